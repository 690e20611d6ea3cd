"""The compute check: `SELECT 1` on the configured engine (DuckDB in process, Trino, Snowflake
or BigQuery), each with its own client."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
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
    """SELECT 1 as the workload's user, with the password the settings hold (Trino accepts one
    only over HTTPS) and the CA the settings name."""
    import trino  # noqa: PLC0415

    compute = probe.settings.compute
    endpoint = compute_endpoint(probe.settings)
    auth = (
        trino.auth.BasicAuthentication(compute.user, compute.password.get_secret_value())
        if compute.password else None
    )  # fmt: skip
    if auth is not None and compute.http_scheme != "https":
        raise CheckFailure(
            Kind.INVALID_SETTING, "a Trino password is only sent over HTTPS, and FLOE_COMPUTE__HTTP_SCHEME is http",
            setting="FLOE_COMPUTE__HTTP_SCHEME", endpoint=endpoint, service="Trino",
        )  # fmt: skip
    extra: dict[str, object] = {"auth": auth} if auth is not None else {}
    if compute.ca_file:
        extra["http_session"] = _session_verifying_with(compute.ca_file)
    connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=compute.host, port=urlsplit(endpoint).port, user=compute.user, catalog=compute.catalog,
        http_scheme=compute.http_scheme, request_timeout=probe.timeout, max_attempts=1, **extra,
    )  # fmt: skip
    probe.start()
    common: dict[str, str] = {"endpoint": endpoint, "service": "Trino"}
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        rows = cursor.fetchall()
    except trino.exceptions.TrinoQueryError as error:
        raise CheckFailure(
            Kind.QUERY_FAILED, f"SELECT 1 failed on {endpoint}: {error.error_name}: {error.message}",
            credentials=f"user {compute.user}", setting="FLOE_COMPUTE__USER", **common,
        ) from None  # fmt: skip
    except (
        trino.exceptions.Http502Error,
        trino.exceptions.Http503Error,
        trino.exceptions.Http504Error,
    ):
        raise CheckFailure(
            Kind.SERVER_ERROR, f"{endpoint} answered a 5xx gateway error", **common
        ) from None
    except trino.exceptions.HttpError as error:
        status = _trino_status(error)
        if status in {401, 403}:
            raise CheckFailure(
                Kind.UNAUTHORIZED, f"{endpoint} rejected user {compute.user} ({status})",
                credentials="FLOE_COMPUTE__USER and FLOE_COMPUTE__PASSWORD", setting="FLOE_COMPUTE__PASSWORD",
                **common,
            ) from None  # fmt: skip
        if status >= 500:
            raise CheckFailure(
                Kind.SERVER_ERROR, f"{endpoint} answered {status}", **common
            ) from None
        raise CheckFailure(
            Kind.UNEXPECTED, f"{endpoint} answered {status or 'an HTTP error'}", **common
        ) from None
    except Exception as error:  # the client wraps socket errors in several types
        raise network_failure(
            error, service="Trino", setting="FLOE_COMPUTE__HOST", endpoint=endpoint,
            timeout=probe.timeout, ca_setting="FLOE_COMPUTE__CA_FILE",
        ) from None  # fmt: skip
    return Status.OK, f"SELECT 1 returned {rows[0][0]} on {endpoint}"


def _session_verifying_with(ca_file: str) -> Any:
    """A requests session that verifies with `ca_file` even when REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE is set (requests lets those override a session's own `verify`)."""
    import requests  # noqa: PLC0415

    class PinnedCa(requests.Session):
        def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
            settings["verify"] = self.verify
            return settings

    session = PinnedCa()
    session.verify = ca_file
    return session


def _trino_status(error: Exception) -> int:
    """The HTTP status the Trino client puts first in its HttpError (`error 401: …`)."""
    words = str(error).split()
    status = words[1].rstrip(":") if len(words) > 1 and words[0] == "error" else ""
    return int(status) if status.isdigit() else 0


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
