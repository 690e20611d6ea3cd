"""Tasks turn user errors into one line (or one JSON document) and a non-zero exit code."""

from __future__ import annotations

import json

import pytest
from invoke.exceptions import Exit

from floe_deploy.cli import reports_errors
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.reference import task_arguments
from floe_deploy.testing import run_task

pytestmark = pytest.mark.requirement("007-FR-006", evidence="real")


@reports_errors
def failing(c: object, json: bool = False) -> int:
    raise FloeError("the thing is broken", "run the fixer", details="last log line")


@reports_errors
def unhealthy(c: object, json: bool = False) -> int:
    return int(ExitCode.UNHEALTHY)


def test_error_is_one_line_with_remediation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as caught:
        failing(None)
    assert caught.value.code == ExitCode.USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "ERROR: the thing is broken. Remediation: run the fixer"
    assert err[1] == "last log line"


def test_error_in_json_mode_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit):
        failing(None, json=True)
    payload = json.loads(capsys.readouterr().out)
    assert payload["error"] == {
        "message": "the thing is broken",
        "remediation": "run the fixer",
        "exit_code": 2,
        "details": "last log line",
    }


def test_returned_code_becomes_the_exit_code() -> None:
    with pytest.raises(Exit) as caught:
        unhealthy(None)
    assert caught.value.code == 3


def test_every_task_is_listed_with_help() -> None:
    listed = run_task("--list")
    assert listed.returncode == 0
    for name in ("platform.up", "platform.status", "platform.down"):
        assert name in listed.stdout
        helped = run_task("--help", name)
        assert helped.returncode == 0
        assert "--json" in helped.stdout


def test_bad_setting_through_a_task_is_exit_2_without_traceback() -> None:
    done = run_task("platform.status", "--registry", "no-port:x")
    assert done.returncode == 2
    assert done.stderr.startswith("ERROR: invalid setting registry")
    assert "Traceback" not in done.stderr
    as_json = run_task("platform.status", "--json", "--registry", "no-port:x")
    assert json.loads(as_json.stdout)["error"]["exit_code"] == 2


def _all_tasks() -> dict[str, object]:
    from tasks import namespace  # noqa: PLC0415

    found: dict[str, object] = {name: task for name, task in namespace.tasks.items()}
    for prefix, sub in namespace.collections.items():
        found |= {f"{prefix}.{name}": task for name, task in sub.tasks.items()}
    return found


def test_every_task_body_knows_its_invoke_name() -> None:
    from floe_deploy.cli import task_name  # noqa: PLC0415

    assert {name: task_name(task.body) for name, task in _all_tasks().items()} == {  # type: ignore[attr-defined]
        name: name for name in _all_tasks()
    }


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, task in _all_tasks().items()
        if any(argument.positional for argument in task_arguments(task))
    ),
)
def test_help_after_a_positional_task_is_its_help(name: str) -> None:
    """Invoke reads `TASK --help` as the positional's value; the task prints its help instead."""
    after = run_task(name, "--help")
    before = run_task("--help", name)
    assert after.returncode == 0, after.stderr
    assert "Traceback" not in after.stderr
    assert after.stdout.replace("inv[oke]", "invoke") == before.stdout.replace("inv[oke]", "invoke")
    assert "Options:" in after.stdout
