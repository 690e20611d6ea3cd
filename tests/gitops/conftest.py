"""A writable copy of gitops/ (inside a scratch repository root) and the umbrella chart, rendered
with the real dagster chart (charts/ or FLOE_DAGSTER_CHART)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.helm.chart import CHART_DIR


@pytest.fixture(scope="session")
def gitops_chart() -> Path:
    return CHART_DIR


@pytest.fixture
def gitops_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo" / "gitops"
    shutil.copytree(GITOPS_DIR, root)
    return root


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def gitops_repo(gitops_copy: Path) -> Path:
    """gitops_copy committed in a git repository of its own (promotion reads committed values)."""
    repo = gitops_copy.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "environments")
    return gitops_copy
