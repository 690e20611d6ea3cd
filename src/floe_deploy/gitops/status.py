"""gitops.status: what each environment runs, and how it got there.

The version comes from the environment's values.yaml (image tag and digest, chart version and
digest); its history from git: the commit that brought the current version into the values file,
the environment it was promoted from (the promotion commit's subject), and the release record it
entered dev from (the `Release-Record` trailer of dev's commit for that version).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import attempt
from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import ENVIRONMENTS, GITOPS_DIR, load_tree, relative
from floe_deploy.gitops.promote import (
    PROMOTION,
    RELEASE_RECORD_TRAILER,
    Version,
    committed_values,
    version_of,
)
from floe_deploy.helm.chart import load_values

NONE = "-"


class Promotion(BaseModel):
    """The commit that brought an environment its current version."""

    commit: str = NONE
    at: str = NONE
    source: str = NONE
    """The environment (or `release`, `dev history`, …) it came from; `-`: an edit, not a promotion."""
    release_record: str = NONE


class EnvironmentStatus(BaseModel):
    environment: str
    values_file: str
    image: str
    image_tag: str
    image_digest: str
    chart_version: str
    chart_digest: str
    promotion: Promotion


class GitOpsStatus(BaseModel):
    environments: list[EnvironmentStatus]
    in_git: bool
    """False: the tree is in no git work tree, so no promotion is known."""


def _log(repo: Path, path: Path) -> list[tuple[str, str, str]]:
    """(commit, committer date, message) that changed the file, newest first."""
    done = attempt(
        ["git", "log", "--format=%H%x1f%cI%x1f%B%x1e", "--", relative(path.resolve(), repo)],
        cwd=repo,
    )
    if done.returncode != 0:
        return []
    entries = [e.strip("\n").split("\x1f") for e in done.stdout.split("\x1e") if e.strip()]
    return [(e[0], e[1], e[2]) for e in entries if len(e) == 3]


def _same(version: Version, other: Version) -> bool:
    return (version.image_tag, version.chart_version, version.chart_digest) == (
        other.image_tag, other.chart_version, other.chart_digest,
    )  # fmt: skip


def _introduced(repo: Path, path: Path, version: Version) -> tuple[str, str, str] | None:
    """The oldest commit of the newest run of commits in which the file held `version`."""
    found = None
    for entry in _log(repo, path):
        try:
            held = version_of(committed_values(repo, path, entry[0]), str(path))
        except FloeError:  # a commit whose values file is unreadable ends the run
            break
        if not _same(held, version):
            break
        found = entry
    return found


def _trailer(message: str, key: str) -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in message.splitlines()
            if line.startswith(f"{key}:")
        ),
        NONE,
    )


def _promotion(repo: Path, first: Path | None, path: Path, version: Version) -> Promotion:
    """The promoting commit of `path`'s version; the record from the first environment's."""
    entry = _introduced(repo, path, version)
    if entry is None:
        return Promotion()
    commit, at, message = entry
    subject = message.splitlines()[0] if message else ""
    matched = PROMOTION.match(subject)
    promotion = Promotion(commit=commit[:12], at=at, source=matched["source"] if matched else NONE)
    dev_entry = _introduced(repo, first, version) if first not in {None, path} else entry
    if dev_entry is not None:
        promotion.release_record = _trailer(dev_entry[2], RELEASE_RECORD_TRAILER)
    return promotion


def gitops_status(root: Path = GITOPS_DIR) -> GitOpsStatus:
    """Every environment's version, and (in a git work tree) where it came from."""
    tree = load_tree(root)
    done = attempt(["git", "rev-parse", "--show-toplevel"], cwd=root)
    repo = Path(done.stdout.strip()) if done.returncode == 0 else None
    first = tree.values_files.get(ENVIRONMENTS[0])
    environments = []
    for environment in [e for e in ENVIRONMENTS if e in tree.values_files]:
        path = tree.values_files[environment]
        values = load_values(path)
        version = version_of(values, environment)
        environments.append(
            EnvironmentStatus(
                environment=environment,
                values_file=relative(path, tree.repo_root),
                image=str((values.get("image") or {}).get("repository") or NONE),
                image_tag=version.tag,
                image_digest=version.image_tag.partition("@")[2] or NONE,
                chart_version=version.chart_version,
                chart_digest=version.chart_digest or NONE,
                promotion=_promotion(repo, first, path, version) if repo else Promotion(),
            )
        )
    return GitOpsStatus(environments=environments, in_git=repo is not None)
