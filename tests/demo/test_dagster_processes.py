"""Dagster for real: code server, webserver and daemon as processes; a run launched through the
GraphQL API lands rows in Iceberg and the mart."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from floe_demo.config import BATCH_TAG, JOB_NAME, POSTGRES_PASSWORD_ENV, STORAGE_SECRET_ENV
from floe_deploy.demo.dagster_api import launch_and_wait
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.dagster_processes import dagster_processes

from .conftest import ArtifactsFactory

pytestmark = pytest.mark.requirement("007-FR-025")


def test_a_launched_run_lands_rows(
    make_artifacts: ArtifactsFactory,
    local_postgres: PostgresEndpoint,
    local_database: str,
    local_s3: S3Endpoint,
    tmp_path: Path,
) -> None:
    # The schedule stays stopped: a tick that falls while the test runs would load a second batch.
    path = make_artifacts(demo={"enabled": False})
    env = {
        "FLOE_ARTIFACTS": str(path),
        STORAGE_SECRET_ENV: local_s3.secret_key,
        POSTGRES_PASSWORD_ENV: local_postgres.password,
    }
    with dagster_processes(
        tmp_path / "dagster",
        postgres_host=local_postgres.host,
        postgres_port=local_postgres.port,
        user=local_postgres.user,
        database=local_database,
        env=env,
    ) as dagster:
        _, status, _ = launch_and_wait(dagster.url, JOB_NAME, {BATCH_TAG: "1700000000"})
        assert status == "SUCCESS", (dagster.home / "daemon.log").read_text()[-3000:]
    with psycopg.connect(local_postgres.dsn(local_database)) as connection:
        row = connection.execute("SELECT sum(order_count) FROM marts.orders_daily").fetchone()
    assert row == (99,)
