"""Tags from git, on a real throwaway repository."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from floe_deploy.images.build import oci_labels
from floe_deploy.images.catalog import image_spec
from floe_deploy.images.versioning import release_version

pytestmark = pytest.mark.requirement("007-FR-010", evidence="real")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "file").write_text("one\n")
    git(tmp_path, "add", "file")
    git(tmp_path, "commit", "-qm", "one")
    return tmp_path


def test_untagged_commit_is_a_dev_version(repo: Path) -> None:
    short = git(repo, "rev-parse", "--short=7", "HEAD")
    version = release_version(repo)
    assert version.version == f"0.0.0-dev.{short}"
    assert version.tags == [version.version]
    assert not version.is_release


def test_uncommitted_changes_mark_the_version_dirty(repo: Path) -> None:
    (repo / "file").write_text("changed\n")
    assert release_version(repo).version.endswith(".dirty")


def test_newest_release_gets_latest(repo: Path) -> None:
    git(repo, "tag", "v1.2.3")
    version = release_version(repo)
    assert version.tags == ["1.2.3", "1.2", "latest"]
    assert version.is_release


def test_an_older_release_does_not_get_latest(repo: Path) -> None:
    git(repo, "tag", "v1.2.3")
    (repo / "file").write_text("two\n")
    git(repo, "commit", "-qam", "two")
    git(repo, "tag", "v2.0.0")
    git(repo, "checkout", "-q", "v1.2.3")
    assert release_version(repo).tags == ["1.2.3", "1.2"]


def test_non_release_tags_are_ignored(repo: Path) -> None:
    git(repo, "tag", "nightly")
    assert not release_version(repo).is_release


def test_the_images_are_created_at_the_commit_so_a_rebuild_is_the_same_image(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The created label is the commit's time, never the build's: two builds of one commit get
    the same labels (and so the same image IDs from a warm cache); SOURCE_DATE_EPOCH wins."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    committed = int(git(repo, "show", "-s", "--format=%ct", "HEAD"))
    version = release_version(repo)
    assert version.committed == datetime.fromtimestamp(committed, UTC)
    spec = image_spec("s3")
    labels = oci_labels(spec, version, version.version)
    assert labels["org.opencontainers.image.created"] == version.committed.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert oci_labels(spec, release_version(repo), version.version) == labels
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert release_version(repo).committed == datetime.fromtimestamp(1700000000, UTC)
