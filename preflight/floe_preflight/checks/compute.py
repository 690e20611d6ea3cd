"""The compute check: `SELECT 1` on the configured engine (DuckDB in process, Trino, Snowflake
or BigQuery), each with its own client."""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import urlsplit

from floe_preflight.checks.shared import network_failure
from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.config import PreflightSettings
from floe_preflight.failures import CheckFailure, Kind
from floe_preflight.model import Status


def compute_endpoint(settings: PreflightSettings) -> str:
    compute = settings.compute
    if compute.type == "trino":
        port = compute.port or (443 if compute.http_scheme == "https" else 8080)
        return f"{compute.http_scheme}://{compute.host}:{port}"
    if compute.type == "snowflake":
        return f"Snowflake account {compute.account}"
    if compute.type == "bigquery":
        return f"BigQuery project {compute.project}"
    return "DuckDB in process"


def check_compute(probe: Probe) -> Outcome:
    probes: dict[str, Callable[[Probe], Outcome]] = {
        "duckdb": _duckdb,
        "trino": _trino,
        "snowflake": _snowflake,
        "bigquery": _bigquery,
    }
    return probes[probe.settings.compute.type](probe)


def _duckdb(probe: Probe) -> Outcome:
    import duckdb  # noqa: PLC0415

    probe.start()
    row = duckdb.connect().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} (DuckDB {duckdb.__version__}, in process)",
    )


def _trino(probe: Probe) -> Outcome:
    import trino  # noqa: PLC0415

    compute = probe.settings.compute
    endpoint = compute_endpoint(probe.settings)
    connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=compute.host, port=urlsplit(endpoint).port, user=compute.user, catalog=compute.catalog,
        http_scheme=compute.http_scheme, request_timeout=probe.timeout, max_attempts=1,
    )  # fmt: skip
    probe.start()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        rows = cursor.fetchall()
    except trino.exceptions.TrinoQueryError as error:
        raise CheckFailure(
            Kind.QUERY_FAILED, f"SELECT 1 failed on {endpoint}: {error.error_name}: {error.message}",
            endpoint=endpoint, credentials=f"user {compute.user}", setting="FLOE_COMPUTE__USER",
        ) from None  # fmt: skip
    except trino.exceptions.HttpError as error:
        if "401" in str(error) or "403" in str(error):
            raise CheckFailure(
                Kind.UNAUTHORIZED, f"{endpoint} rejected user {compute.user} ({str(error).strip()[:80]})",
                credentials="FLOE_COMPUTE__USER and FLOE_COMPUTE__PASSWORD", setting="FLOE_COMPUTE__USER",
                endpoint=endpoint,
            ) from None  # fmt: skip
        raise network_failure(
            error, service="Trino", setting="FLOE_COMPUTE__HOST", endpoint=endpoint, timeout=probe.timeout
        ) from None  # fmt: skip
    except Exception as error:  # the client wraps socket errors in several types
        raise network_failure(
            error, service="Trino", setting="FLOE_COMPUTE__HOST", endpoint=endpoint, timeout=probe.timeout
        ) from None  # fmt: skip
    return Status.OK, f"SELECT 1 returned {rows[0][0]} on {endpoint}"


def _snowflake(probe: Probe) -> Outcome:
    try:
        import snowflake.connector  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the Snowflake client is not installed", resource="snowflake"
        ) from None
    compute = probe.settings.compute
    probe.start()
    connection = snowflake.connector.connect(
        account=compute.account, user=compute.user,
        password=compute.password.get_secret_value() if compute.password else None,
        login_timeout=math.ceil(probe.timeout), network_timeout=math.ceil(probe.timeout),
    )  # fmt: skip
    row = connection.cursor().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} on Snowflake account {compute.account}",
    )


def _bigquery(probe: Probe) -> Outcome:
    try:
        from google.cloud import bigquery  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the BigQuery client is not installed", resource="bigquery"
        ) from None
    client = bigquery.Client(project=probe.settings.compute.project)
    probe.start()
    rows = list(client.query("SELECT 1").result(timeout=probe.timeout))
    return Status.OK, f"SELECT 1 returned {rows[0][0]} in project {probe.settings.compute.project}"


def _missing(settings: PreflightSettings) -> str | None:
    compute = settings.compute
    return "FLOE_COMPUTE__HOST" if compute.type == "trino" and not compute.host else None


SPEC = CheckSpec(
    name="compute",
    run=check_compute,
    type_of=lambda settings: settings.compute.type,
    endpoint=compute_endpoint,
    endpoint_setting="FLOE_COMPUTE__HOST",
    missing_setting=_missing,
    types="duckdb, trino, snowflake, bigquery",
    probe=(
        "`SELECT 1` with the engine's client (Snowflake and BigQuery clients are extras: "
        "`floe-preflight[snowflake]`, `[bigquery]`)"
    ),
    needs="FLOE_COMPUTE__TYPE; trino: FLOE_COMPUTE__HOST",
)
