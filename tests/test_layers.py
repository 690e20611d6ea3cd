"""The layer contract (pyproject's [tool.importlinter], run by `nox -s lint`) holds for the tree
and fails on a planted upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from floe_deploy.paths import PROJECT_ROOT

pytestmark = pytest.mark.requirement("007-FR-052", evidence="real")

LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contract, reading floe_deploy from `source_root`."""
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(PROJECT_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(source_root)},
        timeout=300,
    )


def test_the_tree_keeps_the_layers() -> None:
    done = lint_imports(PROJECT_ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_a_planted_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "src" / "floe_deploy", tmp_path / "floe_deploy")
    engine = tmp_path / "floe_deploy" / "platform" / "engine.py"
    engine.write_text(engine.read_text() + "\nfrom floe_deploy.images import prune  # planted\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "floe_deploy.platform is not allowed to import floe_deploy.images" in done.stdout
    assert "floe_deploy.platform.engine -> floe_deploy.images.prune" in done.stdout
