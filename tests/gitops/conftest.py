"""A writable copy of gitops/ (inside a scratch repository root) and the umbrella chart, rendered
with the real dagster chart (charts/ or FLOE_DAGSTER_CHART)."""

from __future__ import annotations

import shutil
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
