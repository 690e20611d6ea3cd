"""The postgres check: Dagster's database, reached and proven writable (a table created and
rolled back)."""

from __future__ import annotations

from floe_preflight.checks.shared import (
    PostgresTarget,
    postgres_connection,
    prove_create,
    prove_database_create,
)
from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.config import PreflightSettings
from floe_preflight.model import Status


def postgres_endpoint(settings: PreflightSettings) -> str:
    pg = settings.postgres
    host = f"[{pg.host}]" if pg.host and ":" in pg.host else pg.host
    return f"{host}:{pg.port}/{pg.database}"


def check_postgres(probe: Probe) -> Outcome:
    """Connect, read the server version, and prove tables can be created (then roll back)."""
    pg = probe.settings.postgres
    target = PostgresTarget(
        service="Postgres", endpoint=postgres_endpoint(probe.settings), user=pg.user, database=pg.database,
        password_setting=_password_setting(probe.settings),
        host_setting="FLOE_POSTGRES__HOST", database_setting="FLOE_POSTGRES__DATABASE",
        sslmode_setting="FLOE_POSTGRES__SSLMODE", ca_setting="FLOE_POSTGRES__SSLROOTCERT",
    )  # fmt: skip
    password = pg.password.get_secret_value() if pg.password else None
    tls = {"sslrootcert": pg.sslrootcert} if pg.sslrootcert else {}
    with postgres_connection(
        probe, target, password=password, host=pg.host, port=pg.port, dbname=pg.database,
        user=pg.user, sslmode=pg.sslmode, **tls,
    ) as connection:  # fmt: skip
        version = connection.execute("SHOW server_version").fetchone()
        schema = prove_create(connection, target)
        prove_database_create(connection, target)
    return (
        Status.OK,
        f"connected to PostgreSQL {version[0] if version else '?'}; user {pg.user} may create "
        f"tables in schema {schema}",
    )


def _password_setting(settings: PreflightSettings) -> str:
    """Where the password came from; POSTGRES_PASSWORD (what the platform reads) when unset."""
    source = settings.source_of("postgres.password")
    return "POSTGRES_PASSWORD" if source == "default" else source


SPEC = CheckSpec(
    name="postgres",
    run=check_postgres,
    type_of=lambda settings: "postgresql",
    endpoint=postgres_endpoint,
    endpoint_setting="FLOE_POSTGRES__HOST",
    missing_setting=lambda settings: None if settings.postgres.host else "FLOE_POSTGRES__HOST",
    types="Dagster's database",
    probe=(
        "connect (no startup options, as poolers require), server version, CREATE on the database "
        "(the workload's CREATE SCHEMA), create a table in the search path's schema and roll it back"
    ),
    needs="FLOE_POSTGRES__HOST, POSTGRES_PASSWORD",
)
