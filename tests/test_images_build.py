"""How images.build schedules its builds: bases first, the rest `build_jobs` at a time, and what a
failure leaves. Plumbing: the one buildx call per target is replaced by a recorder (the real builds
are e2e/test_images.py's)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.images import build
from floe_deploy.images.build import BuildPlan, BuildTarget, BuiltImage, build_images
from floe_deploy.images.source import ResolvedSource
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.settings import Settings

pytestmark = pytest.mark.requirement("007-FR-009", evidence="plumbing")
T = TypeVar("T")

IMAGES = ["postgres", "s3", "cube", "registry", "busybox"]
WAIT_S = 30.0
BASE = "python-base"


class Recorder:
    """Stands in for one buildx build: records overlap and order, fails the image it is told to.

    Waits on events, not on time: the first `together` builds after the base meet at a barrier
    (so they did run at the same time), and with a failing image the others wait until the builds
    still queued have been cancelled.
    """

    def __init__(self, *, together: int = 1, failing: str | None = None) -> None:
        self.failing = failing
        self.together = threading.Barrier(together)
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.started: list[str] = []
        self.finished: list[str] = []

    def __call__(
        self, _client: object, _settings: Settings, _plan: BuildPlan, target: BuildTarget,
        _contexts: dict[str, Path],
    ) -> BuiltImage:  # fmt: skip
        with self.lock:
            self.started.append(target.image)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            meets = 1 < len(self.started) <= 1 + self.together.parties
        try:
            if meets:
                self.together.wait(timeout=WAIT_S)
            if self.failing and target.image not in {self.failing, BASE}:
                self.cancelled.wait(timeout=WAIT_S)
        finally:
            with self.lock:
                self.running -= 1
                self.finished.append(target.image)
        if target.image == self.failing:
            raise FloeError(f"building {target.image} for {target.platform} failed", "read above")
        return BuiltImage(image=target.image, platform=target.platform, reference=target.reference,
                          image_id="sha256:0", size_bytes=1, seconds=0.0)  # fmt: skip


def plan(images: list[str]) -> BuildPlan:
    targets = [
        BuildTarget(image=name, platform="linux/amd64", reference=f"floe/{name}:t", build_args={})
        for name in [BASE, *images]
    ]
    version = ReleaseVersion(version="t", tags=["t"], revision="0" * 40, is_release=False)
    return BuildPlan(version=version, tag="t", source=ResolvedSource.HERMETIC, targets=targets,
                     ca_bundle=None)  # fmt: skip


@pytest.fixture(autouse=True)
def engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "engine_reachable", lambda _client: True)


def test_the_base_first_then_the_rest_build_jobs_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(together=2)
    monkeypatch.setattr(build, "_build_target", recorder)
    report = build_images(Settings(build_jobs=2), plan(IMAGES), Console(json_mode=True))
    assert recorder.started[0] == "python-base"
    assert recorder.finished[0] == "python-base"
    assert recorder.most_at_once == 2
    assert [image.image for image in report.images] == ["python-base", *IMAGES]


def test_one_job_builds_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(build, "_build_target", recorder)
    build_images(Settings(build_jobs=1), plan(IMAGES), Console(json_mode=True))
    assert recorder.most_at_once == 1
    assert recorder.started == ["python-base", *IMAGES]


def test_a_failure_cancels_what_has_not_started_and_waits_for_what_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder(together=2, failing="postgres")

    class Pool(ThreadPoolExecutor):
        """Tells the recorder when a queued build is cancelled."""

        def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(lambda f: recorder.cancelled.set() if f.cancelled() else None)
            return future

    monkeypatch.setattr(build, "ThreadPoolExecutor", Pool)
    monkeypatch.setattr(build, "_build_target", recorder)
    with pytest.raises(FloeError, match="building postgres for linux/amd64 failed"):
        build_images(Settings(build_jobs=2), plan(IMAGES), Console(json_mode=True))
    assert recorder.cancelled.is_set()
    assert recorder.running == 0, "a build still ran when the failure was raised"
    assert "busybox" not in recorder.started, "a build queued behind the failure still started"
