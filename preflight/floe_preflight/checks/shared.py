"""Helpers more than one check uses: naming a network failure, and the Postgres connection and
CREATE proof that both the postgres check and the SQL catalog (metadata in Postgres) need."""

from __future__ import annotations

import math
import socket
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

from floe_preflight.checks.spec import Probe
from floe_preflight.failures import CheckFailure, Kind, causes, network_kind


def network_failure(
    error: BaseException,
    *,
    service: str,
    setting: str,
    endpoint: str,
    timeout: float,
    ca_setting: str,
) -> CheckFailure:
    """A failure named from the socket or TLS error the client wrapped; TLS failures point at
    the client's own CA setting (each client reads a different one)."""
    kind = network_kind(error) or Kind.UNEXPECTED
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    ssl_reason = next(
        (
            str(getattr(cause, "verify_message", None) or cause.reason)
            for cause in causes(error)
            if isinstance(cause, ssl.SSLError) and cause.reason
        ),
        "no reason given",
    )
    messages = {
        Kind.CONNECTION_REFUSED: f"{endpoint} refused the connection",
        Kind.DNS: f"cannot resolve the host of {endpoint}",
        Kind.TIMEOUT: f"no answer from {endpoint} within {timeout:g} s",
        Kind.TLS: f"TLS handshake with {endpoint} failed ({ssl_reason})",
        Kind.TLS_NOT_OFFERED: f"{endpoint} does not offer TLS, which the settings require",
        Kind.UNEXPECTED: f"{endpoint}: {type(error).__name__}: {first_line}",
    }
    return CheckFailure(
        kind,
        messages.get(kind, messages[Kind.UNEXPECTED]),
        service=service,
        setting=ca_setting if kind is Kind.TLS else setting,
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
    ca_setting: str


def postgres_connection(
    probe: Probe, target: PostgresTarget, *, password: str | None, **connect: Any
) -> Any:
    """Connect as the workload does (no startup options: poolers such as PgBouncer refuse them),
    then bound every statement by the check's timeout."""
    import psycopg  # noqa: PLC0415

    timeout_ms = max(1, round(probe.timeout * 1000))
    probe.start()
    try:
        connection = psycopg.connect(
            **connect, password=password, connect_timeout=max(2, math.ceil(probe.timeout))
        )
    except psycopg.OperationalError as error:
        raise _postgres_failure(error, probe, target) from None
    except psycopg.Error:
        raise CheckFailure(
            Kind.INVALID_SETTING, f"{target.host_setting} is not a valid connection string",
            setting=target.host_setting, endpoint=target.endpoint, service=target.service,
        ) from None  # fmt: skip
    connection.execute("SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)])
    return connection


def libpq_reasons(error: Exception) -> list[str]:
    """What libpq says after `connection to server at "…", port N failed: `, one per address it
    tried. A connection-time error carries no SQLSTATE (libpq keeps no result for it), so the
    reason is the one structured part: the server's message after `FATAL:  `, or libpq's own."""
    pgconn = getattr(error, "pgconn", None)
    raw = getattr(pgconn, "error_message", b"") or b""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    reasons = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("\t", " ")):
            continue
        _, marker, reason = line.partition(" failed: ")
        reasons.append(
            reason.strip() if marker and line.startswith("connection to server ") else line.strip()
        )
    return reasons


@dataclass(frozen=True)
class ServerRefusal:
    """A reason libpq reports, as PostgreSQL (or PgBouncer) words it: `FATAL:  <message>`."""

    kind: Kind
    exact: str = ""
    prefix: str = ""

    def matches(self, reason: str, user: str, database: str) -> bool:
        said = reason.removeprefix("FATAL:  ")
        if said == reason:
            return False
        if self.exact:
            return said == self.exact.format(user=user, database=database)
        return said.startswith(self.prefix)


SERVER_REFUSALS = (
    ServerRefusal(Kind.WRONG_PASSWORD, exact='password authentication failed for user "{user}"'),
    ServerRefusal(Kind.HBA_REJECTED, prefix="no pg_hba.conf entry for host "),
    ServerRefusal(Kind.HBA_REJECTED, prefix="pg_hba.conf rejects connection for host "),
    ServerRefusal(Kind.DATABASE_MISSING, exact='database "{database}" does not exist'),
    ServerRefusal(Kind.UNAUTHORIZED, exact='role "{user}" does not exist'),
    ServerRefusal(Kind.TOO_MANY_CONNECTIONS, exact="sorry, too many clients already"),
    ServerRefusal(Kind.TOO_MANY_CONNECTIONS, prefix="remaining connection slots are reserved"),
    ServerRefusal(Kind.POOLER_REJECTED, prefix="unsupported startup parameter"),
)
"""The server's own messages for its connection-time refusals (PostgreSQL's message catalogue:
auth.c, postinit.c, proc.c; PgBouncer's client.c), matched whole, with the user and database
preflight sent, so a name such as `r_tls` cannot change the verdict."""

LIBPQ_REASONS = (
    ("server does not support SSL, but SSL was required", Kind.TLS_NOT_OFFERED),
    ("SSL error: ", Kind.TLS),
    ("root certificate file ", Kind.TLS),
    ("server certificate for ", Kind.TLS),
    ("Connection refused", Kind.CONNECTION_REFUSED),
    ("could not translate host name ", Kind.DNS),
    ("timeout expired", Kind.TIMEOUT),
)
"""libpq's own reasons (fe-connect.c, fe-secure-openssl.c), each at the start of the reason."""


def postgres_kind(error: Exception, target: PostgresTarget) -> tuple[Kind, str]:
    """The failure kind and the reason it was read from."""
    for reason in libpq_reasons(error):
        for refusal in SERVER_REFUSALS:
            if refusal.matches(reason, target.user, target.database):
                return refusal.kind, reason
        for start, kind in LIBPQ_REASONS:
            if reason.startswith(start):
                return kind, reason
    reasons = libpq_reasons(error)
    if not reasons and not _resolves(target.endpoint.split("/")[0]):
        return Kind.DNS, ""  # psycopg resolves host names itself, before libpq, and chains nothing
    return Kind.UNEXPECTED, reasons[0] if reasons else type(error).__name__


def _resolves(server: str) -> bool:
    host = server.rpartition(":")[0].removeprefix("[").removesuffix("]")
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    except (OSError, UnicodeError):
        return True
    return True


def _postgres_failure(  # noqa: PLR0911 (one return per failure kind)
    error: Exception, probe: Probe, target: PostgresTarget
) -> CheckFailure:
    kind, reason = postgres_kind(error, target)
    common: dict[str, str] = {"endpoint": target.endpoint, "service": target.service}
    server = target.endpoint.split("/")[0]
    first_line = reason.splitlines()[0] if reason else ""
    match kind:
        case Kind.WRONG_PASSWORD:
            source = (
                f"the password in {target.host_setting}"
                if target.password_setting == target.host_setting else target.password_setting
            )  # fmt: skip
            return CheckFailure(
                kind, f"password authentication failed for user {target.user} on {target.endpoint} "
                f"(password from {source})",
                credentials=f"{source} and the user {target.user}",
                setting=target.password_setting, **common,
            )  # fmt: skip
        case Kind.HBA_REJECTED:
            return CheckFailure(
                kind, f"{server} has no pg_hba.conf rule that lets user {target.user} connect to "
                f"{target.database} from here ({first_line.removeprefix('FATAL:  ')})",
                credentials=f"user {target.user}", setting=target.sslmode_setting, **common,
            )  # fmt: skip
        case Kind.DATABASE_MISSING:
            return CheckFailure(
                kind, f"database {target.database} does not exist on {server}",
                resource=target.database, setting=target.database_setting, **common,
            )  # fmt: skip
        case Kind.UNAUTHORIZED:
            return CheckFailure(
                kind, f"user {target.user} does not exist on {server}",
                credentials=f"the user in {target.host_setting}", setting=target.host_setting, **common,
            )  # fmt: skip
        case Kind.TOO_MANY_CONNECTIONS:
            return CheckFailure(
                kind, f"{server} refused the connection: all its connection slots are taken "
                "(max_connections reached)", setting=target.host_setting, **common,
            )  # fmt: skip
        case Kind.POOLER_REJECTED:
            return CheckFailure(
                kind, f"{server} refused the connection's startup parameters "
                f"({first_line.removeprefix('FATAL:  ')})", setting=target.host_setting, **common,
            )  # fmt: skip
        case Kind.TLS_NOT_OFFERED:
            return CheckFailure(
                kind, f"{server} does not offer TLS, which {target.sslmode_setting} requires",
                setting=target.sslmode_setting, **common,
            )  # fmt: skip
        case Kind.TLS:
            return CheckFailure(
                kind, f"TLS with {server} failed: {first_line[:160]}", setting=target.ca_setting,
                **common,
            )  # fmt: skip
        case Kind.CONNECTION_REFUSED:
            return CheckFailure(
                kind, f"{server} refused the connection", setting=target.host_setting, **common
            )
        case Kind.DNS:
            return CheckFailure(
                kind, f"cannot resolve the host of {server}", setting=target.host_setting, **common
            )
        case Kind.TIMEOUT:
            return CheckFailure(
                kind, f"no answer from {server} within {probe.timeout:g} s", setting=target.host_setting, **common
            )  # fmt: skip
    return CheckFailure(
        Kind.UNEXPECTED, f"{server}: {first_line[:200]}", setting=target.host_setting, **common
    )


def prove_database_create(connection: Any, target: PostgresTarget) -> None:
    """The workload creates its schemas (`CREATE SCHEMA marts`), which needs CREATE on the
    database, not only on `public`."""
    row = connection.execute(
        "SELECT has_database_privilege(current_user, current_database(), 'CREATE')"
    ).fetchone()
    if not row or not row[0]:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE,
            f"user {target.user} may not create schemas in database {target.database} "
            "(CREATE SCHEMA would fail)",
            credentials=target.user, resource=f"DATABASE {target.database}",
            setting=target.database_setting, endpoint=target.endpoint, service=target.service,
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
            credentials=target.user, resource="SCHEMA public", setting=target.database_setting, **common,
        )  # fmt: skip
    try:
        connection.execute(f"CREATE TABLE floe_preflight_probe_{uuid.uuid4().hex[:12]} (id int)")
    except psycopg.errors.InsufficientPrivilege:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE,
            f"user {target.user} may not create tables in schema {schema} of database {target.database}",
            credentials=target.user, resource=f"SCHEMA {schema}", setting=target.database_setting, **common,
        ) from None  # fmt: skip
    except psycopg.errors.ReadOnlySqlTransaction:
        raise CheckFailure(
            Kind.READ_ONLY, f"database {target.database} is read-only",
            resource=target.database, setting=target.host_setting, **common,
        ) from None  # fmt: skip
    finally:
        connection.rollback()
    return str(schema)
