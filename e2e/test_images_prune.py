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
from floe_deploy.images.versioning import release_version
from floe_deploy.paths import PROJECT_ROOT
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


@pytest.mark.requirement("007-FR-049", evidence="real")
def test_prune_removes_only_stale_floe_images(
    docker: DockerClient, planted: dict[str, str]
) -> None:
    dry = task_json("images.prune", "--dry-run", env=ROOMY)
    assert {s["reference"] for s in dry["stale_tags"]} == {planted["old_dev"], planted["push"]}
    assert docker.image.exists(planted["old_dev"]), "a dry run removed something"

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
