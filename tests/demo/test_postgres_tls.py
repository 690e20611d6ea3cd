"""The demo's Postgres clients connect as the artifacts' sslmode says, verifying against
PGSSLROOTCERT (the chart's tls.caBundle): real PostgreSQL servers on 127.0.0.1 that accept only
TLS (pg_hba `hostssl`), certificates from a throwaway CA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from pydantic import SecretStr

from floe_demo.config import (
    CatalogConfig,
    CompiledArtifacts,
    ConfigurationError,
    PostgresConfig,
    Secrets,
    ServingConfig,
    StorageConfig,
)
from floe_demo.loader import open_catalog
from floe_demo.mart import write_daily
from floe_deploy.testing import PostgresEndpoint
from floe_deploy.testing.local_services import postgres_cluster
from floe_deploy.tls import ServerTls, server_tls

pytestmark = pytest.mark.requirement("007-FR-060", evidence="real")

HOSTSSL_ONLY = "hostssl all all 127.0.0.1/32 scram-sha-256"


@pytest.fixture(scope="module")
def tls() -> ServerTls:
    return server_tls("floe-private-ca", ["127.0.0.1"])


@pytest.fixture(scope="module")
def tls_postgres(tls: ServerTls) -> Iterator[PostgresEndpoint]:
    with postgres_cluster(tls=tls, hba=HOSTSSL_ONLY) as postgres:
        yield postgres


@pytest.fixture
def no_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CA for libpq: neither PGSSLROOTCERT nor ~/.postgresql/root.crt, and no PGSSLMODE."""
    for name in ("PGSSLROOTCERT", "PGSSLMODE", "PGSSLCERT", "PGSSLKEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def trust(ca: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the chart's pods: PGSSLROOTCERT names the mounted bundle."""
    bundle = tmp_path / "ca.crt"
    bundle.write_text(ca)
    monkeypatch.setenv("PGSSLROOTCERT", str(bundle))


def config(postgres: PostgresEndpoint, sslmode: str) -> PostgresConfig:
    return PostgresConfig.model_validate(
        {"host": postgres.host, "port": postgres.port, "database": postgres.database,
         "user": postgres.user, "sslmode": sslmode}
    )  # fmt: skip


def artifacts(postgres: PostgresConfig) -> CompiledArtifacts:
    return CompiledArtifacts(
        catalog=CatalogConfig(
            type="sql", warehouse="s3://floe-warehouse/warehouse", postgres=postgres
        ),
        storage=StorageConfig(bucket="floe-warehouse", access_key_id="floe"),
        serving=ServingConfig(postgres=postgres),
    )


def secrets(postgres: PostgresEndpoint) -> Secrets:
    return Secrets(
        storage_secret_access_key=SecretStr("unused"),
        postgres_password=SecretStr(postgres.password),
    )


@pytest.mark.parametrize("sslmode", ["allow", "prefer", "require", "verify-ca", "verify-full"])
def test_the_dsn_reaches_a_tls_only_server_in_each_mode_that_allows_tls(
    sslmode: str,
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    no_ca: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trust(tls.ca, tmp_path, monkeypatch)
    dsn = config(tls_postgres, sslmode).dsn(SecretStr(tls_postgres.password))
    with psycopg.connect(dsn) as connection:
        assert connection.info.pgconn.ssl_in_use


def test_disable_is_refused_by_a_tls_only_server(
    tls_postgres: PostgresEndpoint, no_ca: None
) -> None:
    dsn = config(tls_postgres, "disable").dsn(SecretStr(tls_postgres.password))
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(dsn)


def test_prefer_leaves_pgsslmode_to_the_pod(
    tls_postgres: PostgresEndpoint, no_ca: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default passes no sslmode, so a PGSSLMODE set on the pod still decides (as before)."""
    monkeypatch.setenv("PGSSLMODE", "disable")
    password = SecretStr(tls_postgres.password)
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(config(tls_postgres, "prefer").dsn(password))
    with psycopg.connect(config(tls_postgres, "require").dsn(password)) as connection:
        assert connection.info.pgconn.ssl_in_use


def test_verify_full_needs_the_ca_require_does_not(
    tls_postgres: PostgresEndpoint, no_ca: None
) -> None:
    password = SecretStr(tls_postgres.password)
    with pytest.raises(psycopg.OperationalError, match="root certificate file"):
        psycopg.connect(config(tls_postgres, "verify-full").dsn(password))
    with psycopg.connect(config(tls_postgres, "require").dsn(password)) as connection:
        assert connection.info.pgconn.ssl_in_use


def test_verify_full_checks_the_host_name_verify_ca_does_not(
    no_ca: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate from the CA, but for another name than the host connected to."""
    misnamed = server_tls("floe-private-ca", ["localhost"])
    trust(misnamed.ca, tmp_path, monkeypatch)
    with postgres_cluster(tls=misnamed, hba=HOSTSSL_ONLY) as postgres:
        password = SecretStr(postgres.password)
        with psycopg.connect(config(postgres, "verify-ca").dsn(password)) as connection:
            assert connection.info.pgconn.ssl_in_use
        with pytest.raises(psycopg.OperationalError, match="does not match host name"):
            psycopg.connect(config(postgres, "verify-full").dsn(password))


def test_the_marts_are_written_over_verify_full(
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    no_ca: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daily = pa.table({
        "day": [dt.date(2026, 1, 1)], "status": ["shipped"], "order_count": [3],
        "revenue": pa.array([Decimal("12.50")], pa.decimal128(18, 2)),
    })  # fmt: skip
    found = artifacts(config(tls_postgres, "verify-full"))
    with pytest.raises(
        ConfigurationError, match=r"serving database not reachable.*root certificate"
    ):
        write_daily(found, secrets(tls_postgres), daily)
    trust(tls.ca, tmp_path, monkeypatch)
    assert write_daily(found, secrets(tls_postgres), daily) == 1


def test_the_sql_catalog_opens_over_verify_full(
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    no_ca: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyiceberg's SQL catalog (SQLAlchemy, psycopg) takes the sslmode from the URI's query."""
    found = artifacts(config(tls_postgres, "verify-full"))
    with pytest.raises(
        ConfigurationError, match=r"sql catalog could not be opened.*root certificate"
    ):
        open_catalog(found, secrets(tls_postgres))
    trust(tls.ca, tmp_path, monkeypatch)
    catalog = open_catalog(found, secrets(tls_postgres))
    catalog.create_namespace_if_not_exists("tls_proof")
    assert ("tls_proof",) in catalog.list_namespaces()
