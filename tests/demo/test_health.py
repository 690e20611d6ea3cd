"""The demo's cheap health checks agree with Dagster's own, against a real Dagster instance.

The instance is the compose demo's dagster.yaml pointed at the loopback Postgres; heartbeats are
written by Dagster's own storage, and `dagster-daemon liveness-check`'s function judges them too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_demo import health
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.testing import PostgresEndpoint, free_port
from floe_deploy.testing.dagster_processes import dagster_yaml
from floe_deploy.waiting import poll
from floe_deploy.yaml_read import parse_document

pytestmark = pytest.mark.requirement("007-FR-051", evidence="real")

COMPOSE_DIR = PROJECT_ROOT / "compose"


def compose_healthcheck(service: str) -> list[str]:
    test: list[str] = parse_document((COMPOSE_DIR / "compose.yaml").read_text())["services"][
        service
    ]["healthcheck"]["test"]
    return test


@pytest.fixture
def instance(
    tmp_path: Path,
    local_postgres: PostgresEndpoint,
    local_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """The demo's instance (compose/dagster/dagster.yaml) with its storage on the loopback cluster."""
    from dagster import DagsterInstance  # noqa: PLC0415 (only these tests pay for Dagster)

    (tmp_path / "dagster.yaml").write_text(
        dagster_yaml(local_postgres.host, local_postgres.port, local_postgres.user, local_database)
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("POSTGRES_PASSWORD", local_postgres.password)
    with DagsterInstance.from_config(str(tmp_path)) as made:
        yield made


def beat(instance: Any, daemon_type: str, age_s: float) -> None:
    from dagster._daemon.types import DaemonHeartbeat  # noqa: PLC0415

    instance.add_daemon_heartbeat(
        DaemonHeartbeat(time.time() - age_s, daemon_type, "test-daemon", errors=[])
    )


def verdicts(instance: Any, required: list[str]) -> tuple[bool, int]:
    """Dagster's liveness verdict beside floe's exit code, for the same heartbeats."""
    from dagster._daemon.controller import all_daemons_live  # noqa: PLC0415

    return all_daemons_live(instance), health.main(["daemon", *required])


def test_the_compose_daemon_check_names_what_the_instance_requires(instance: Any) -> None:
    probe = compose_healthcheck("daemon")
    assert probe[:5] == ["CMD", "python", "-m", "floe_demo.health", "daemon"]
    assert sorted(probe[5:]) == sorted(instance.get_required_daemon_types())


def test_daemon_check_agrees_with_dagsters_liveness_check(
    instance: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    required = compose_healthcheck("daemon")[5:]
    assert verdicts(instance, required) == (False, 1)
    assert "no recent heartbeat from" in capsys.readouterr().err

    for daemon_type in required:
        beat(instance, daemon_type, age_s=5)
    assert verdicts(instance, required) == (True, 0)

    beat(instance, required[0], age_s=health.DEFAULT_HEARTBEAT_TOLERANCE_S + 60)
    assert verdicts(instance, required) == (False, 1)
    assert required[0] in capsys.readouterr().err


def test_daemon_check_without_its_database_is_unhealthy_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_db:\n      hostname: 127.0.0.1\n"
        f"      port: {free_port()}\n      username: u\n      password: p\n      db_name: d\n"
    )
    assert health.main(["daemon", "SENSOR"], {"DAGSTER_HOME": str(tmp_path)}) == 1
    error = capsys.readouterr().err
    assert error.startswith("unhealthy: daemon heartbeats unreadable: OperationalError")
    assert len(error.strip().splitlines()) == 1


def test_grpc_check_asks_a_real_dagster_code_server(tmp_path: Path) -> None:
    """A real `dagster api grpc` server: SERVING once up; once it is gone (killed: its graceful
    shutdown can outlast a minute on a busy machine), nothing answers."""
    (tmp_path / "defs.py").write_text("from dagster import Definitions\n\ndefs = Definitions()\n")
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "api", "grpc", "-f", "defs.py",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        serving = poll(
            lambda: True if health.main(["grpc", str(port)]) == 0 else None,
            timeout=120,
            interval=0.25,
        )
        assert serving, "the code server never answered SERVING"
    finally:
        server.kill()
        server.wait()
    assert health.main(["grpc", str(port)]) == 1


def test_http_check_needs_a_200(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert health.main(["http", f"http://127.0.0.1:{port}/"]) == 1
    assert "unhealthy:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["grpc", "x"], ["daemon"], ["nope", "1"]])
def test_bad_usage_is_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert health.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_no_compose_healthcheck_starts_dagster() -> None:
    """A probe that imports Dagster costs seconds of CPU each time: the cause of a demo that never
    became healthy beside a busy test suite."""
    services = parse_document((COMPOSE_DIR / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        words = service.get("healthcheck", {}).get("test", [])
        assert not [word for word in words if word.startswith("dagster")], name
