"""Dagster definitions of the demo: two assets with their checks, one job, one schedule.

`dagster dev -m floe_demo.definitions` (or the runtime image's code server) loads this module.
Configuration comes from the CompiledArtifacts file named by FLOE_ARTIFACTS, read when a run
starts, so a broken file fails the run with a message instead of the code location. pyiceberg
and DuckDB are imported inside the assets: every run worker imports this module, and they would
add about 1.4 s to each run's start.
No `from __future__ import annotations` here: Dagster reads the annotations at run time.
"""

import os
import time
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    Failure,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
)

from floe_demo.config import (
    ARTIFACTS_ENV,
    BATCH_TAG,
    HOLD_TAG,
    JOB_NAME,
    CompiledArtifacts,
    ConfigurationError,
    DemoConfig,
    Secrets,
    load_artifacts,
    record_artifacts_in_use,
)
from floe_demo.generator import NULLABLE_COLUMNS, EcommerceGenerator, batch_id, batch_stats

if TYPE_CHECKING:
    from floe_demo.loader import IcebergLoader


class PlatformResource(ConfigurableResource):  # type: ignore[type-arg]
    """The platform's configuration (CompiledArtifacts file) and secrets (environment)."""

    artifacts_path: str

    def artifacts(self) -> CompiledArtifacts:
        try:
            return load_artifacts(self.artifacts_path)
        except ConfigurationError as error:
            raise Failure(description=str(error)) from None

    def secrets(self) -> Secrets:
        try:
            return Secrets.from_env()
        except ConfigurationError as error:
            raise Failure(description=str(error)) from None

    def loader(self) -> "IcebergLoader":
        """The Iceberg loader; pyiceberg is imported here, not when the code location loads."""
        from floe_demo.loader import IcebergLoader  # noqa: PLC0415

        try:
            return IcebergLoader.from_artifacts(self.artifacts(), self.secrets())
        except ConfigurationError as error:
            raise Failure(description=str(error)) from None


class DemoBatchConfig(Config):
    """Which batch to generate; default: the run's `floe/batch-number` tag, else the current time."""

    batch_number: int | None = None


def _batch_number(context: AssetExecutionContext, config: DemoBatchConfig) -> int:
    if config.batch_number is not None:
        return config.batch_number
    tag = context.run.tags.get(BATCH_TAG)
    return int(tag) if tag else int(time.time())


@asset(
    group_name="demo",
    check_specs=[
        AssetCheckSpec("null_share_as_configured", asset="demo_orders"),
        AssetCheckSpec("late_rows_counted", asset="demo_orders"),
    ],
)
def demo_orders(
    context: AssetExecutionContext, config: DemoBatchConfig, platform: PlatformResource
) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster reads this annotation at run time
    """One batch of synthetic orders appended to Iceberg; a batch already loaded is not appended again."""
    artifacts = platform.artifacts()
    demo = artifacts.demo
    quality = demo.data_quality
    number = _batch_number(context, config)
    hold = int(context.run.tags.get(HOLD_TAG) or 0)
    if hold:
        context.log.info(f"holding {hold} s before generating ({HOLD_TAG})")
        time.sleep(hold)
    generator = EcommerceGenerator(
        seed=demo.seed,
        batch_size=demo.batch_size,
        null_rate=quality.null_rate,
        duplicate_rate=quality.duplicate_rate,
        late_arrival_rate=quality.late_arrival_rate,
    )
    batch = generator.generate(number)
    try:
        result = platform.loader().append(batch, batch_id(demo.seed, number))
    except ConfigurationError as error:
        raise Failure(description=str(error)) from None
    stats = batch_stats(batch)
    unique = stats.rows - stats.duplicates
    null_share = stats.nulls / (stats.rows * len(NULLABLE_COLUMNS))
    tolerance = 0.01 + 1 / (unique * len(NULLABLE_COLUMNS))
    context.log.info(
        f"batch {result.batch_id}: {result.rows} rows appended"
        if result.appended
        else f"batch {result.batch_id} was already loaded"
    )
    return MaterializeResult(
        metadata={
            "batch_id": result.batch_id,
            "batch_number": number,
            "appended": result.appended,
            "rows": stats.rows,
            "null_cells": stats.nulls,
            "duplicate_rows": stats.duplicates,
            "late_rows": stats.late,
        },
        check_results=[
            AssetCheckResult(
                check_name="null_share_as_configured",
                passed=abs(null_share - quality.null_rate) <= tolerance,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "null_share": null_share,
                    "configured": quality.null_rate,
                    "tolerance": tolerance,
                },
            ),
            AssetCheckResult(
                check_name="late_rows_counted",
                passed=stats.late >= round(unique * quality.late_arrival_rate),
                severity=AssetCheckSeverity.WARN,
                metadata={"late_rows": stats.late, "configured_rate": quality.late_arrival_rate},
            ),
        ],
    )


@asset(
    group_name="demo",
    deps=[demo_orders],
    check_specs=[AssetCheckSpec("duplicates_removed", asset="orders_daily")],
)
def orders_daily(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster reads this annotation at run time
    """Revenue and order count per day and status, deduplicated with DuckDB, served from Postgres."""
    from floe_demo.mart import build_orders_daily  # noqa: PLC0415 (DuckDB only where it runs)

    artifacts = platform.artifacts()
    orders = platform.loader().read()
    try:
        result = build_orders_daily(artifacts, platform.secrets(), orders)
    except ConfigurationError as error:
        raise Failure(description=str(error)) from None
    distinct_orders = result.source_rows - result.duplicates_removed
    return MaterializeResult(
        metadata={
            "mart_rows": result.rows,
            "orders": result.orders,
            "source_rows": result.source_rows,
            "duplicates_removed": result.duplicates_removed,
        },
        check_results=[
            AssetCheckResult(
                check_name="duplicates_removed",
                passed=result.orders == distinct_orders,
                metadata={"mart_orders": result.orders, "distinct_orders": distinct_orders},
            )
        ],
    )


demo_pipeline = define_asset_job(
    JOB_NAME, selection=[demo_orders, orders_daily], executor_def=in_process_executor
)


def configured_demo() -> DemoConfig:
    """The demo settings for the schedule: from the artifacts file when it is readable."""
    record_artifacts_in_use()
    try:
        return load_artifacts(os.environ.get(ARTIFACTS_ENV)).demo
    except ConfigurationError:
        return DemoConfig()


_demo = configured_demo()


@schedule(
    job=demo_pipeline,
    cron_schedule=_demo.schedule_interval,
    default_status=DefaultScheduleStatus.RUNNING
    if _demo.enabled
    else DefaultScheduleStatus.STOPPED,
)
def demo_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """One batch per tick; the tick's time is the batch number, so a tick never loads twice."""
    assert context.scheduled_execution_time is not None
    number = int(context.scheduled_execution_time.timestamp())
    return RunRequest(run_key=str(number), tags={BATCH_TAG: str(number)})


defs = Definitions(
    assets=[demo_orders, orders_daily],
    jobs=[demo_pipeline],
    schedules=[demo_schedule],
    resources={"platform": PlatformResource(artifacts_path=EnvVar(ARTIFACTS_ENV))},
)
