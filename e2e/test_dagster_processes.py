"""Dagster for real: code server, webserver and daemon as processes on this host, against the
real Postgres and S3-compatible containers; a run launched through the GraphQL API lands rows in
Iceberg and the mart. (An e2e test: Dagster's three processes take half a minute to start.)"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from floe_demo.config import (
    ARTIFACTS_ENV,
    BATCH_TAG,
    JOB_NAME,
    POSTGRES_PASSWORD_ENV,
    STORAGE_SECRET_ENV,
)
from floe_deploy.dagster_api import launch_and_wait
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.dagster_processes import dagster_processes

RUN_TIMEOUT_S = 420.0
"""Queued, launched as a process, ended: seconds on a quiet machine, minutes on a loaded one."""


def artifacts_file(path: Path, postgres: PostgresEndpoint, database: str, s3: S3Endpoint,
                   bucket: str) -> Path:  # fmt: skip
    """The demo's CompiledArtifacts with the schedule off: the test launches the only batch."""
    connection = {"host": postgres.host, "port": postgres.port, "database": database,
                  "user": postgres.user}  # fmt: skip
    path.write_text(json.dumps({
        "version": 1,
        "catalog": {"type": "sql", "name": "floe", "warehouse": f"s3://{bucket}/warehouse",
                    "postgres": connection},
        "storage": {"endpoint": s3.endpoint, "bucket": bucket, "access_key_id": s3.access_key},
        "compute": {"type": "duckdb"},
        "serving": {"postgres": connection, "schema": "marts"},
        "demo": {"batch_size": 100, "seed": 7, "enabled": False},
    }))  # fmt: skip
    return path


@pytest.mark.requirement("007-FR-025", evidence="real")
def test_a_launched_run_lands_rows(
    postgres: PostgresEndpoint, postgres_database: str, s3: S3Endpoint, s3_bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    database = conninfo_to_dict(postgres_database)["dbname"]
    assert isinstance(database, str)
    env = {
        ARTIFACTS_ENV: str(
            artifacts_file(tmp_path / "artifacts.json", postgres, database, s3, s3_bucket)
        ),
        STORAGE_SECRET_ENV: s3.secret_key,
        POSTGRES_PASSWORD_ENV: postgres.password,
    }
    with dagster_processes(
        tmp_path / "dagster",
        postgres_host=postgres.host,
        postgres_port=postgres.port,
        user=postgres.user,
        database=database,
        env=env,
    ) as dagster:
        _, status, _ = launch_and_wait(
            dagster.url, JOB_NAME, {BATCH_TAG: "1700000000"}, timeout=RUN_TIMEOUT_S
        )
        assert status == "SUCCESS", (dagster.home / "daemon.log").read_text()[-3000:]
    with psycopg.connect(postgres_database) as connection:
        row = connection.execute("SELECT sum(order_count) FROM marts.orders_daily").fetchone()
    assert row == (99,)
