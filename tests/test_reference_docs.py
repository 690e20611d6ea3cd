"""docs/reference/ is what the code says today, and says something for every setting and task."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks import namespace

from floe_deploy import reference
from floe_deploy.reference import (
    reference_files,
    setting_rows,
    task_arguments,
    write_reference,
)
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task
from floe_preflight.config import PreflightSettings

pytestmark = pytest.mark.requirement("007-FR-006", evidence="real")


def test_the_committed_references_are_what_the_code_generates() -> None:
    stale = [str(file.path) for file in reference_files(namespace) if not file.current()]
    assert stale == [], "run `uv run invoke docs.reference` and commit the result"


@pytest.mark.parametrize("model", [Settings, PreflightSettings])
def test_every_setting_says_what_it_means(model: type[Settings] | type[PreflightSettings]) -> None:
    rows = list(setting_rows(model))
    assert len(rows) > 20
    assert [row.key for row in rows if not row.meaning] == []


def test_every_task_and_option_has_help() -> None:
    from tests.test_docs_commands import TASKS  # noqa: PLC0415

    undocumented = [name for name, task in TASKS.items() if not (task.body.__doc__ or "").strip()]
    assert undocumented == []
    no_help = [
        f"{name} --{argument.names[0]}"
        for name, task in TASKS.items()
        for argument in task_arguments(task)
        if not argument.help
    ]
    assert no_help == []


def test_check_finds_a_stale_file_and_writing_rewrites_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = tmp_path
    monkeypatch.setattr(reference, "REFERENCE_DIR", directory)
    (directory / "settings.md").write_text("# stale\n")
    checked = write_reference(namespace, check=True)
    assert {path.name for path in checked.stale} == {"settings.md", "tasks.md"}
    assert (directory / "settings.md").read_text() == "# stale\n"
    written = write_reference(namespace)
    assert {path.name for path in written.stale} == {"settings.md", "tasks.md"}
    assert write_reference(namespace, check=True).stale == []


def test_the_check_task_passes_on_the_committed_files() -> None:
    done = run_task("docs.reference", "--check", "--json")
    assert done.returncode == 0, done.stdout
    assert '"stale": []' in done.stdout
