"""A writable copy of gitops/ (inside a scratch repository root) and the chart with the stand-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.testing.charts import chart_with_stand_in


@pytest.fixture(scope="session")
def gitops_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_stand_in(tmp_path_factory.mktemp("gitops-chart"))


@pytest.fixture
def gitops_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo" / "gitops"
    shutil.copytree(GITOPS_DIR, root)
    return root
