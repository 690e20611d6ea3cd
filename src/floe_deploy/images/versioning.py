"""Image and chart versions from git: release tags give X.Y.Z, anything else a dev version."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import attempt
from floe_deploy.errors import FloeError

RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


class ReleaseVersion(BaseModel):
    """What one commit publishes as: its version, and every tag the images get."""

    version: str
    tags: list[str]
    revision: str
    is_release: bool
    committed: datetime | None = None
    """When the revision was committed: the images' created time, so that building one commit
    again makes the same images (and a re-run publish finds them pushed and attested)."""


def git_output(*args: str, cwd: Path) -> str:
    """What `git ARGS` prints in `cwd`; empty when git fails (no repository, no remote)."""
    done = attempt(["git", *args], cwd=cwd)
    return done.stdout.strip() if done.returncode == 0 else ""


def commit_time(repo: Path) -> datetime | None:
    """SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else HEAD's commit time."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or git_output(
        "show", "-s", "--format=%ct", "HEAD", cwd=repo
    )
    return datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else None


def _release_key(tag: str) -> tuple[int, int, int]:
    match = RELEASE_TAG.match(tag)
    assert match is not None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def release_version(repo: Path) -> ReleaseVersion:
    """`vX.Y.Z` on HEAD → X.Y.Z and X.Y (+ latest on the newest release); else 0.0.0-dev.<sha>[.dirty]."""
    revision = git_output("rev-parse", "HEAD", cwd=repo) or "unknown"
    short = revision[:7] if revision != "unknown" else "unknown"
    dirty = bool(git_output("status", "--porcelain", "--untracked-files=no", cwd=repo))
    head_tags = [
        t
        for t in git_output("tag", "--points-at", "HEAD", cwd=repo).split()
        if RELEASE_TAG.match(t)
    ]
    if head_tags and not dirty:
        tag = max(head_tags, key=_release_key)
        major, minor, patch = _release_key(tag)
        all_releases = [
            t for t in git_output("tag", "--list", "v*", cwd=repo).split() if RELEASE_TAG.match(t)
        ]
        tags = [f"{major}.{minor}.{patch}", f"{major}.{minor}"]
        if max(all_releases, key=_release_key) == tag:
            tags.append("latest")
        return ReleaseVersion(
            version=tags[0],
            tags=tags,
            revision=revision,
            is_release=True,
            committed=commit_time(repo),
        )
    version = f"0.0.0-dev.{short}" + (".dirty" if dirty else "")
    return ReleaseVersion(
        version=version,
        tags=[version],
        revision=revision,
        is_release=False,
        committed=commit_time(repo),
    )


def declared_version(version: str, repo: Path) -> ReleaseVersion:
    """A release version a pipeline names itself (`--version 1.4.0`, e.g. from its tag)."""
    match = RELEASE_TAG.match(f"v{version.removeprefix('v')}")
    if match is None:
        raise FloeError(f"{version!r} is not a release version", "write it as X.Y.Z, e.g. 1.4.0")
    plain = ".".join(match.groups())
    revision = git_output("rev-parse", "HEAD", cwd=repo) or "unknown"
    return ReleaseVersion(
        version=plain, tags=[plain], revision=revision, is_release=True, committed=commit_time(repo)
    )
