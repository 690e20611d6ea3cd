"""orders_daily: revenue and count per day and status, deduplicated, served from Postgres for Cube."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import psycopg
import pyarrow as pa

from floe_demo.config import POSTGRES_PASSWORD_ENV, CompiledArtifacts, ConfigurationError, Secrets

DAILY_SQL = """
WITH latest AS (
    SELECT * FROM orders
    QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1
)
SELECT CAST(created_at AS DATE) AS day,
       status,
       count(*)::BIGINT AS order_count,
       CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue
FROM latest
GROUP BY 1, 2
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class MartResult:
    rows: int
    orders: int
    source_rows: int
    duplicates_removed: int


def compute_daily(orders: pa.Table) -> pa.Table:
    """Deduplicate by order id (latest update wins), then aggregate, with DuckDB in process."""
    connection = duckdb.connect()
    connection.register("orders", orders)
    return connection.sql(DAILY_SQL).to_arrow_table()


def write_daily(artifacts: CompiledArtifacts, secrets: Secrets, daily: pa.Table) -> int:
    """Replace the serving table in one transaction: Cube never sees a half-written mart."""
    serving = artifacts.serving
    schema = serving.schema_name
    try:
        connection = psycopg.connect(serving.postgres.dsn(secrets.postgres_password))
    except psycopg.OperationalError as error:
        text = (
            str(error)
            .replace(secrets.postgres_password.get_secret_value(), "***")
            .strip()
            .splitlines()[0]
        )
        raise ConfigurationError(
            f"serving database not reachable ({text}): check serving.postgres and {POSTGRES_PASSWORD_ENV}"
        ) from None
    computed_at = datetime.now(UTC)
    with connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        cursor.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".orders_daily ('
            "day date NOT NULL, status text NOT NULL, order_count bigint NOT NULL, "
            "revenue numeric(18, 2) NOT NULL, computed_at timestamptz NOT NULL, PRIMARY KEY (day, status))"
        )
        cursor.execute(f'DELETE FROM "{schema}".orders_daily')  # noqa: S608 (schema is configuration, quoted)
        with cursor.copy(
            f'COPY "{schema}".orders_daily (day, status, order_count, revenue, computed_at) FROM STDIN'
        ) as copy:
            for row in daily.to_pylist():
                copy.write_row(
                    (row["day"], row["status"], row["order_count"], row["revenue"], computed_at)
                )
    rows: int = daily.num_rows
    return rows


def build_orders_daily(
    artifacts: CompiledArtifacts, secrets: Secrets, orders: pa.Table
) -> MartResult:
    daily = compute_daily(orders)
    write_daily(artifacts, secrets, daily)
    distinct = len(set(orders.column("order_id").to_pylist()))
    return MartResult(
        rows=daily.num_rows,
        orders=sum(daily.column("order_count").to_pylist()),
        source_rows=orders.num_rows,
        duplicates_removed=orders.num_rows - distinct,
    )
