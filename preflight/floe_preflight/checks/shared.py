"""Helpers more than one check uses: naming a network failure, and the Postgres connection and
CREATE proof that both the postgres check and the SQL catalog (metadata in Postgres) need."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from floe_preflight.checks.spec import Probe
from floe_preflight.failures import CheckFailure, Kind, network_kind


def network_failure(
    error: BaseException, *, service: str, setting: str, endpoint: str, timeout: float
) -> CheckFailure:
    kind = network_kind(error) or Kind.UNEXPECTED
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    messages = {
        Kind.CONNECTION_REFUSED: f"{endpoint} refused the connection",
        Kind.DNS: f"cannot resolve the host of {endpoint}",
        Kind.TIMEOUT: f"no answer from {endpoint} within {timeout:g} s",
        Kind.TLS: f"TLS handshake with {endpoint} failed ({first_line[:120]})",
        Kind.TLS_NOT_OFFERED: f"{endpoint} does not offer TLS, which the settings require",
        Kind.UNEXPECTED: f"{endpoint}: {type(error).__name__}: {first_line}",
    }
    return CheckFailure(
        kind,
        messages.get(kind, messages[Kind.UNEXPECTED]),
        service=service,
        setting=setting,
        endpoint=endpoint,
    )


@dataclass(frozen=True)
class PostgresTarget:
    """Which database a connection is for, and which settings name each of its parts."""

    service: str
    endpoint: str
    user: str
    database: str
    password_setting: str
    host_setting: str
    database_setting: str
    sslmode_setting: str


def postgres_connection(
    probe: Probe, target: PostgresTarget, *, password: str | None, **connect: Any
) -> Any:
    import psycopg  # noqa: PLC0415

    timeout_ms = max(1, round(probe.timeout * 1000))
    probe.start()
    try:
        return psycopg.connect(
            **connect, password=password, connect_timeout=max(2, math.ceil(probe.timeout)),
            options=f"-c statement_timeout={timeout_ms}",
        )  # fmt: skip
    except psycopg.OperationalError as error:
        raise _postgres_failure(error, probe, target) from None
    except psycopg.Error as error:
        raise CheckFailure(
            Kind.INVALID_SETTING, f"{target.host_setting} is not a valid connection string: {str(error).strip()}",
            setting=target.host_setting, endpoint=target.endpoint, service=target.service,
        ) from None  # fmt: skip


def _postgres_failure(error: Exception, probe: Probe, target: PostgresTarget) -> CheckFailure:
    text = str(error)
    common: dict[str, str] = {"endpoint": target.endpoint, "service": target.service}
    if "password authentication failed" in text or "no password supplied" in text:
        source = (
            "the password in FLOE_CATALOG__URI"
            if target.password_setting == target.host_setting
            else target.password_setting
        )
        return CheckFailure(
            Kind.WRONG_PASSWORD,
            f"password authentication failed for user {target.user} on {target.endpoint} (password from {source})",
            credentials=f"{source} and the user {target.user}", setting=target.password_setting, **common,
        )  # fmt: skip
    if "does not exist" in text and "database" in text:
        return CheckFailure(
            Kind.DATABASE_MISSING, f"database {target.database} does not exist on {target.endpoint.split('/')[0]}",
            resource=target.database, setting=target.database_setting, **common,
        )  # fmt: skip
    if "does not exist" in text and "role" in text:
        return CheckFailure(
            Kind.UNAUTHORIZED, f"user {target.user} does not exist on {target.endpoint.split('/')[0]}",
            credentials=f"the user in {target.host_setting}", setting=target.host_setting, **common,
        )  # fmt: skip
    return network_failure(
        error, service=target.service, setting=target.sslmode_setting
        if network_kind(error) is Kind.TLS_NOT_OFFERED else target.host_setting,
        endpoint=target.endpoint, timeout=probe.timeout,
    )  # fmt: skip


def prove_create(connection: Any, target: PostgresTarget) -> str:
    """Create a table in the first schema of the search path and roll it back: what Dagster's
    migrations (and the SQL catalog's first write) do. A temporary table would pass without
    CREATE on the schema, which PostgreSQL 15 no longer grants to every user on `public`."""
    import psycopg  # noqa: PLC0415

    schema_row = connection.execute("SELECT current_schema()").fetchone()
    schema = schema_row[0] if schema_row else None
    common: dict[str, str] = {"endpoint": target.endpoint, "service": target.service}
    if schema is None:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE, f"no schema of user {target.user}'s search_path exists in {target.database}",
            credentials=target.user, resource="public", setting=target.database_setting, **common,
        )  # fmt: skip
    try:
        connection.execute(f"CREATE TABLE floe_preflight_probe_{uuid.uuid4().hex[:12]} (id int)")
    except psycopg.errors.InsufficientPrivilege:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE,
            f"user {target.user} may not create tables in schema {schema} of database {target.database}",
            credentials=target.user, resource=schema, setting=target.database_setting, **common,
        ) from None  # fmt: skip
    except psycopg.errors.ReadOnlySqlTransaction:
        raise CheckFailure(
            Kind.READ_ONLY, f"database {target.database} is read-only",
            resource=target.database, setting=target.host_setting, **common,
        ) from None  # fmt: skip
    finally:
        connection.rollback()
    return str(schema)
