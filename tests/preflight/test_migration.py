"""floe-migrate, the chart's upgrade and rollback hooks, against a real PostgreSQL and the real
Dagster instance that the runtime image runs (its storage, heartbeats and schema revisions).

The Kubernetes half (scaling Deployments) runs in `helm.smoke --upgrade-from` (e2e)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._daemon.types import DaemonHeartbeat

from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.testing import PostgresEndpoint
from floe_preflight import migration

pytestmark = pytest.mark.requirement("007-FR-056", evidence="real")


@pytest.fixture
def dagster_home(
    tmp_path: Path,
    local_postgres: PostgresEndpoint,
    local_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> PostgresEndpoint:
    """A Dagster instance keeping runs, events and schedules in a database of its own."""
    database = local_database
    storage = {
        "postgres": {
            "postgres_db": {
                "hostname": local_postgres.host,
                "port": local_postgres.port,
                "username": local_postgres.user,
                "password": {"env": "DAGSTER_PG_PASSWORD"},
                "db_name": database,
            }
        }
    }
    (tmp_path / "dagster.yaml").write_text(json.dumps({"storage": storage}))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", local_postgres.password)
    return PostgresEndpoint(
        local_postgres.host, local_postgres.port, local_postgres.user,
        local_postgres.password, database,
    )  # fmt: skip


def test_a_rollback_to_a_dagster_that_knows_the_schema_goes_on(
    dagster_home: PostgresEndpoint,
) -> None:
    result = CliRunner().invoke(migration.main, ["check-rollback"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdict["ok"] is True
    assert verdict["revision"] == verdict["image_head"]


def test_a_rollback_across_a_migration_is_refused_with_the_runbook(
    dagster_home: PostgresEndpoint,
) -> None:
    """A database a newer Dagster migrated: its revision is unknown to this image."""
    assert migration.schema_revision() is not None
    with psycopg.connect(dagster_home.dsn(), autocommit=True) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a0b1c2d3e4f5'")
    result = CliRunner().invoke(migration.main, ["check-rollback"])
    assert result.exit_code == 1
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdict["ok"] is False
    assert "a0b1c2d3e4f5" in verdict["error"]
    assert "helm rollback" in verdict["error"]
    assert migration.RUNBOOK in verdict["error"]


def test_the_upgrade_hook_refuses_an_older_image_before_stopping_anything(
    dagster_home: PostgresEndpoint,
) -> None:
    """An older release's hook (Argo CD syncing an earlier revision) meets a migrated database:
    it refuses before it scales anything (the Kubernetes API is not reachable here, so touching
    it would fail differently)."""
    migration.schema_revision()
    with psycopg.connect(dagster_home.dsn(), autocommit=True) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a0b1c2d3e4f5'")
    result = CliRunner().invoke(
        migration.main, ["upgrade", "--daemon", "floe-dagster-daemon"],
        env={"POD_NAMESPACE": "floe"},
    )  # fmt: skip
    assert result.exit_code == 1
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    assert "does not know" in verdict["error"]
    assert verdict["restored"] == {}


def test_a_daemon_that_still_beats_stops_the_migration(dagster_home: PostgresEndpoint) -> None:
    """Another daemon writing heartbeats into the same database (what the hook cannot see as a
    Deployment): the check that waits one heartbeat interval sees it and refuses."""
    beating, first_beat = threading.Event(), threading.Event()
    beating.set()

    def beat() -> None:
        with DagsterInstance.get() as instance:
            while beating.is_set():
                instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "SCHEDULER", None, None))
                first_beat.set()
                time.sleep(0.2)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        assert first_beat.wait(timeout=60), "the beating daemon never wrote a heartbeat"
        with pytest.raises(migration.MigrationRefused, match="still writes heartbeats"):
            migration.no_daemon_beats(interval=1.0, grace=0.2)
    finally:
        beating.clear()
        thread.join()


def test_a_stopped_daemon_lets_the_migration_go_on(dagster_home: PostgresEndpoint) -> None:
    with DagsterInstance.get() as instance:
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "SCHEDULER", None, None))
    started = time.monotonic()
    migration.no_daemon_beats(interval=1.0, grace=0.2)
    assert time.monotonic() - started >= 1.0, "it must wait one interval past the last beat"


def test_the_runbook_the_refusal_names_exists() -> None:
    document, _, section = migration.RUNBOOK.partition(", ")
    text = (PROJECT_ROOT / document).read_text()
    assert f"#### {section.strip(chr(39))}\n" in text


def test_an_upgrade_that_needs_no_migration_stops_nothing(dagster_home: PostgresEndpoint) -> None:
    """A values-only change, or a floe release on the same Dagster: the database is at this
    image's newest schema, so the daemon and webserver keep running (the Kubernetes API is not
    reachable here: touching it would fail)."""
    migration.schema_revision()
    result = CliRunner().invoke(
        migration.main, ["upgrade", "--daemon", "floe-dagster-daemon", "--webserver", "w"]
    )
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdict["skipped"].startswith("the database is at")
    assert verdict["revision_before"] == verdict["revision_after"]


def test_a_first_sync_without_an_instance_has_nothing_to_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argo CD runs PreSync hooks on the first sync too, before the instance ConfigMap exists."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = CliRunner().invoke(migration.main, ["upgrade", "--daemon", "floe-dagster-daemon"])
    assert result.exit_code == 0, result.output
    assert "first install" in json.loads(result.stdout.strip().splitlines()[-1])["skipped"]
