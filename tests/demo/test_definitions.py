"""The Dagster definitions, materialised in process against real Postgres, S3 (moto) and DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from dagster import DagsterInstance, build_schedule_context, materialize

from floe_demo.config import BATCH_TAG, CompiledArtifacts
from floe_demo.definitions import (
    PlatformResource,
    defs,
    demo_orders,
    demo_schedule,
    orders_daily,
)
from floe_deploy.testing import PostgresEndpoint

from .conftest import ArtifactsFactory

pytestmark = pytest.mark.requirement("007-FR-025", evidence="stand-in")


def run_pipeline(path: str, batch_number: int, instance: DagsterInstance | None = None) -> object:
    return materialize(
        [demo_orders, orders_daily],
        resources={"platform": PlatformResource(artifacts_path=path)},
        tags={BATCH_TAG: str(batch_number)},
        instance=instance,
        raise_on_error=False,
    )


def mart_orders(postgres: PostgresEndpoint, database: str) -> int:
    with psycopg.connect(postgres.dsn(database)) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(order_count), 0) FROM marts.orders_daily"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_both_assets_and_their_checks_succeed(
    make_artifacts: ArtifactsFactory, local_postgres: PostgresEndpoint, local_database: str
) -> None:
    path = make_artifacts()
    with DagsterInstance.ephemeral() as instance:
        result = run_pipeline(str(path), 1_700_000_000, instance)
        assert result.success  # type: ignore[attr-defined]
        checks = result.get_asset_check_evaluations()  # type: ignore[attr-defined]
        assert {c.check_name: c.passed for c in checks} == {
            "null_share_as_configured": True,
            "late_rows_counted": True,
            "duplicates_removed": True,
        }
        first = mart_orders(local_postgres, local_database)
        assert first == 99, "100 rows with 1 duplicate: 99 distinct orders"
        assert run_pipeline(str(path), 1_700_000_000, instance).success  # type: ignore[attr-defined]
        assert mart_orders(local_postgres, local_database) == first, (
            "a retried batch appends nothing"
        )
        assert run_pipeline(str(path), 1_700_000_300, instance).success  # type: ignore[attr-defined]
        assert mart_orders(local_postgres, local_database) == 2 * first


@pytest.mark.requirement("007-FR-027", evidence="stand-in")
def test_unknown_catalog_type_fails_the_asset_with_the_setting(
    make_artifacts: ArtifactsFactory,
) -> None:
    path = make_artifacts(catalog={"type": "hive"})
    result = run_pipeline(str(path), 1)
    assert not result.success  # type: ignore[attr-defined]
    failure = next(e for e in result.all_events if e.is_step_failure)  # type: ignore[attr-defined]
    assert "catalog.type" in str(failure.step_failure_data.error)


def test_schedule_cron_comes_from_the_artifacts(artifacts: CompiledArtifacts) -> None:
    assert demo_schedule.cron_schedule == "*/5 * * * *"
    tick = datetime(2026, 11, 26, 12, 5, tzinfo=UTC)
    with DagsterInstance.ephemeral() as instance:
        request = demo_schedule.evaluate_tick(
            build_schedule_context(instance=instance, scheduled_execution_time=tick)
        )
    (run_request,) = request.run_requests or []
    assert run_request.run_key == str(int(tick.timestamp()))
    assert run_request.tags[BATCH_TAG] == str(int(tick.timestamp()))


def test_definitions_load_with_job_and_schedule() -> None:
    assert defs.resolve_job_def("demo_pipeline").name == "demo_pipeline"
    assert defs.resolve_schedule_def("demo_schedule").job_name == "demo_pipeline"
