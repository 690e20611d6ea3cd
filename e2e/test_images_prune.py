"""images.prune and `platform.up --prune` against the real engine and build cache.

The images here use their own prefix (FLOE_IMAGE_PREFIX), so the test sees exactly what it
planted; the build cache budget is set far above the cache, so the trim runs but keeps all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.images.build import IMAGE_LABEL
from floe_deploy.images.sbom import sbom_cache, syft_version
from floe_deploy.images.versioning import release_version
from floe_deploy.images.wheels import lock_key, wheel_cache
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.settings import load_settings
from floe_deploy.testing import free_port, run_task, task_json

PREFIX = "floe-prunetest"
ROOMY = {"FLOE_IMAGE_PREFIX": PREFIX, "FLOE_BUILD_CACHE_MAX_GB": "100000"}


def labelled_image(docker: DockerClient, directory: Path, content: str, tag: str) -> str:
    """A one-file image carrying floe's build label, as images.build makes them."""
    (directory / "content.txt").write_text(content)
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY content.txt /\n")
    docker.buildx.build(
        directory, tags=[tag], platforms=["linux/amd64"], load=True,
        labels={IMAGE_LABEL: "prunetest"} | TEST_IMAGE_LABELS,
    )  # fmt: skip
    return docker.image.inspect(tag).id


@pytest.fixture
def planted(docker: DockerClient, tmp_path: Path) -> Iterator[dict[str, str]]:
    version = release_version(PROJECT_ROOT).version
    tags = {
        "current": f"{PREFIX}/app:{version}-amd64",
        "current_dirty": f"{PREFIX}/app:{version.removesuffix('.dirty')}.dirty-amd64",
        "release": f"{PREFIX}/app:1.2.3-amd64",
        "old_dev": f"{PREFIX}/app:0.0.0-dev.0000000-amd64",
        "push": f"127.0.0.1:{free_port()}/{PREFIX}/app:1.2.3-amd64",
        "other_project": "prunetest-other/app:0.0.0-dev.0000000-amd64",
    }
    dangling = labelled_image(docker, tmp_path, "replaced by a rebuild", tags["current"])
    labelled_image(docker, tmp_path, "rebuilt", tags["current"])
    for name, tag in tags.items():
        if name != "current":
            docker.image.tag(tags["current"], tag)
    yield tags | {"dangling_id": dangling}
    for tag in tags.values():
        if docker.image.exists(tag):
            docker.image.remove(tag, force=True)


@pytest.fixture
def planted_caches(planted: dict[str, str], docker: DockerClient) -> Iterator[dict[str, Path]]:
    """In the state dir: an SBOM of an image the engine holds, one of an image it does not hold
    and one by another syft; the wheels of this lock and of another."""
    state = load_settings().state_dir
    syft = sbom_cache(state) / syft_version()
    held = docker.image.inspect(planted["current"]).id.removeprefix("sha256:")
    paths = {
        "held_sbom": syft / f"{held}.cdx.json",
        "gone_sbom": syft / f"{'0' * 64}.cdx.json",
        "old_syft": sbom_cache(state) / "0.0.0-prunetest",
        "current_wheels": wheel_cache(state) / lock_key(),
        "old_wheels": wheel_cache(state) / "prunetest000",
    }
    for path in paths.values():
        if path.name.endswith(".json"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")
        else:
            path.mkdir(parents=True, exist_ok=True)
    yield paths
    for name in ("held_sbom", "gone_sbom", "old_syft", "old_wheels"):
        if paths[name].is_dir():
            paths[name].rmdir()
        else:
            paths[name].unlink(missing_ok=True)


@pytest.mark.requirement("007-FR-049", evidence="real")
def test_prune_removes_only_stale_floe_images(
    docker: DockerClient, planted: dict[str, str], planted_caches: dict[str, Path]
) -> None:
    state = load_settings().state_dir
    dry = task_json("images.prune", "--dry-run", env=ROOMY)
    assert {s["reference"] for s in dry["stale_tags"]} == {planted["old_dev"], planted["push"]}
    assert docker.image.exists(planted["old_dev"]), "a dry run removed something"
    stale = {
        str(planted_caches[n].relative_to(state)) for n in ("gone_sbom", "old_syft", "old_wheels")
    }
    assert stale <= set(dry["stale_caches"])
    keep = {str(planted_caches[n].relative_to(state)) for n in ("held_sbom", "current_wheels")}
    assert not keep & set(dry["stale_caches"])
    assert all(path.exists() for path in planted_caches.values()), "a dry run removed a cache"

    report = task_json("images.prune", env=ROOMY)
    reasons = {s["reference"]: s["why"] for s in report["stale_tags"]}
    assert set(reasons) == {planted["old_dev"], planted["push"]}
    assert "push tag" in reasons[planted["push"]]
    assert "dev version 0.0.0-dev.0000000" in reasons[planted["old_dev"]]
    for kept in ("current", "current_dirty", "release", "other_project"):
        assert docker.image.exists(planted[kept]), kept
    for gone in ("old_dev", "push", "dangling_id"):
        assert not docker.image.exists(planted[gone]), gone
    assert report["dangling_images"] >= 1
    assert report["free_after_gb"] > 0
    for gone in ("gone_sbom", "old_syft", "old_wheels"):
        assert not planted_caches[gone].exists(), gone
    for cache in ("held_sbom", "current_wheels"):
        assert planted_caches[cache].exists(), cache


@pytest.mark.requirement("007-FR-049", evidence="real")
def test_up_with_prune_prunes_then_checks_disk(
    docker: DockerClient, planted: dict[str, str], tmp_path: Path
) -> None:
    own = ROOMY | {
        "FLOE_STATE_DIR": str(tmp_path / "state"),
        "FLOE_REGISTRY": f"127.0.0.1:{free_port()}",
    }
    try:
        refused = run_task("platform.up", "--prune", env=own | {"FLOE_MIN_FREE_DISK_GB": "1000000"})
        assert refused.returncode == 2, refused.stderr
        assert "below the 1000000.0 GB minimum" in refused.stderr.splitlines()[0]
        assert not docker.image.exists(planted["old_dev"]), "the prune did not run before the check"
        assert not list((tmp_path / "state").glob("*.pid")), "a refused up left a daemon running"

        docker.image.tag(planted["current"], planted["old_dev"])
        up = task_json("platform.up", "--prune", env=own)
        actions = {c["component"]: c["action"] for c in up["components"]}
        assert actions["stale floe images"] == "pruned"
        assert not docker.image.exists(planted["old_dev"])
    finally:
        run_task("platform.down", env=own)
