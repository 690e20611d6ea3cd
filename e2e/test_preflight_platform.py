"""The preflight `platform` check against the real engine and compose plugin."""

from __future__ import annotations

import json

import pytest

from floe_deploy.testing import run_task

pytestmark = pytest.mark.requirement("007-FR-034")


def test_platform_check_sees_the_real_engine() -> None:
    done = run_task("preflight", "--check", "platform", "--json")
    (result,) = json.loads(done.stdout)["results"]
    assert done.returncode == 0, result
    assert result["status"] == "ok"
    assert "compose" in result["message"]


def test_unreachable_engine_is_an_error_with_remediation() -> None:
    done = run_task(
        "preflight",
        "--check",
        "platform",
        "--format",
        "lines",
        env={"FLOE_PLATFORM__DOCKER_SOCKET": "/nonexistent.sock"},
    )
    assert done.returncode == 3
    assert done.stdout.startswith(
        "[PLATFORM] ERROR: the Docker engine does not answer on /nonexistent.sock. Remediation: Start Docker"
    )


def test_unknown_check_is_a_usage_error() -> None:
    done = run_task("preflight", "--check", "kafka")
    assert done.returncode == 2
    assert "Invalid value for '--check': 'kafka' is not one of" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
