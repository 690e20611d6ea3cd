"""floe-preflight against real Postgres and S3 (loopback), real DuckDB, and protocol-level
servers for Polaris/Iceberg REST and Trino (they can't run here; see protocol_servers)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.protocol_servers import iceberg_rest, silent_socket, trino
from tests.preflight.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    pg_env,
    preflight,
    rest_env,
    results,
    s3_env,
)


@pytest.mark.requirement("007-FR-034", evidence="stand-in")
@pytest.mark.requirement("007-FR-035", evidence="stand-in")
def test_all_ok_exits_0(
    local_postgres: PostgresEndpoint, local_s3: S3Endpoint, local_bucket: str, rest_catalog: str
) -> None:
    env = pg_env(local_postgres) | s3_env(local_s3, local_bucket) | rest_env(rest_catalog)
    code, found = results(
        env,
        "--check",
        "compute",
        "--check",
        "storage",
        "--check",
        "catalog",
        "--check",
        "postgres",
        "--write-probe",
    )
    assert code == 0, found
    assert {name: r["status"] for name, r in found.items()} == dict.fromkeys(
        ("compute", "storage", "catalog", "postgres"), "ok"
    )
    assert "writable" in str(found["storage"]["message"])
    assert (
        found["catalog"]["message"]
        == "token obtained, config returned and namespaces listed for warehouse demo"
    )


@pytest.mark.requirement("007-FR-035", evidence="stand-in")
def test_warnings_only_exit_4(
    local_postgres: PostgresEndpoint, local_s3: S3Endpoint, local_bucket: str
) -> None:
    env = (
        pg_env(local_postgres)
        | s3_env(local_s3, local_bucket)
        | {"FLOE_CATALOG__URI": local_postgres.dsn().replace(f":{local_postgres.password}", "")}
    )
    code, found = results(env, "--check", "storage", "--check", "catalog")
    assert found["catalog"]["status"] == "warning"
    assert "iceberg_tables" in str(found["catalog"]["message"])
    assert code == 4


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_unknown_compute_type_is_a_usage_error() -> None:
    code, output = preflight({"FLOE_COMPUTE__TYPE": "oracle"}, "--check", "compute")
    assert code == 2
    assert output.startswith("ERROR: invalid setting compute.type")
    code, output = preflight({"FLOE_COMPUTE__TYPE": "oracle"}, "--json")
    assert code == 2
    assert json.loads(output)["error"]["exit_code"] == 2


FAILURES = "007-FR-036"


@pytest.mark.requirement(FAILURES, evidence="real")
def test_connection_refused(local_postgres: PostgresEndpoint) -> None:
    with silent_socket() as port:
        pass
    code, found = results(
        pg_env(local_postgres, FLOE_POSTGRES__PORT=str(port)), "--check", "postgres"
    )
    assert code == 3
    assert "refused the connection" in str(found["postgres"]["message"])
    assert "FLOE_POSTGRES__HOST" in str(found["postgres"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="real")
def test_dns_failure(local_postgres: PostgresEndpoint) -> None:
    _, found = results(
        pg_env(local_postgres, FLOE_POSTGRES__HOST="no-such-host.invalid"), "--check", "postgres"
    )
    assert "cannot resolve the host" in str(found["postgres"]["message"])
    assert "DNS" in str(found["postgres"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="real")
@pytest.mark.requirement("007-FR-034", evidence="real")
def test_timeout_on_a_host_that_never_answers(rest_catalog: str) -> None:
    with silent_socket() as port:
        started = time.monotonic()
        code, found = results(
            rest_env(f"http://127.0.0.1:{port}") | {"FLOE_STORAGE__BUCKET": ""},
            "--check",
            "catalog",
            "--timeout",
            "1",
        )
        elapsed = time.monotonic() - started
    assert code == 3
    assert "within 1 s" in str(found["catalog"]["message"])
    assert "raise --timeout" in str(found["catalog"]["remediation"])
    assert elapsed < 1 + 1.5


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_tls_error(tmp_path: Path) -> None:
    with iceberg_rest(CLIENT_ID, CLIENT_SECRET, {"demo"}, tls_dir=tmp_path) as url:
        _, found = results(rest_env(url), "--check", "catalog")
    assert found["catalog"]["status"] == "error"
    assert "TLS handshake" in str(found["catalog"]["message"])
    assert "CA" in str(found["catalog"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_401_from_the_catalog(rest_catalog: str) -> None:
    code, output = preflight(
        rest_env(rest_catalog, secret="wrong-secret"), "--check", "catalog", "--format", "lines"
    )
    assert code == 3
    assert output.strip() == (
        "[CATALOG] ERROR: OAuth2 client authentication failed for client floe-client "
        "(401 invalid_client: The client is not authorized). Remediation: Verify POLARIS_CLIENT_ID "
        "and POLARIS_CLIENT_SECRET (or FLOE_CATALOG__CLIENT_ID / __CLIENT_SECRET)."
    )


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_403_from_the_catalog(rest_catalog: str) -> None:
    _, found = results(rest_env(rest_catalog, warehouse="secret-wh"), "--check", "catalog")
    assert "forbidden (403 Principal may not access secret-wh)" in str(found["catalog"]["message"])


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_warehouse_unknown_to_the_catalog(rest_catalog: str) -> None:
    _, found = results(rest_env(rest_catalog, warehouse="nope"), "--check", "catalog")
    assert "warehouse nope is unknown" in str(found["catalog"]["message"])
    assert "FLOE_CATALOG__WAREHOUSE" in str(found["catalog"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="stand-in")
def test_bucket_missing(local_s3: S3Endpoint) -> None:
    _, found = results(s3_env(local_s3, "no-such-bucket"), "--check", "storage")
    assert "bucket no-such-bucket does not exist" in str(found["storage"]["message"])
    assert "Create bucket no-such-bucket" in str(found["storage"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="real")
def test_database_missing(local_postgres: PostgresEndpoint) -> None:
    _, found = results(
        pg_env(local_postgres, FLOE_POSTGRES__DATABASE="absent_db"), "--check", "postgres"
    )
    assert "database absent_db does not exist" in str(found["postgres"]["message"])


@pytest.mark.requirement(FAILURES, evidence="real")
def test_wrong_password(local_postgres: PostgresEndpoint) -> None:
    _, found = results(
        pg_env(local_postgres, POSTGRES_PASSWORD="wrong-pg-password"), "--check", "postgres"
    )
    assert "password authentication failed" in str(found["postgres"]["message"])
    assert "POSTGRES_PASSWORD" in str(found["postgres"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="real")
def test_read_only_database(local_postgres: PostgresEndpoint, local_database: str) -> None:
    with psycopg.connect(local_postgres.dsn(), autocommit=True) as connection:
        connection.execute(
            f'ALTER DATABASE "{local_database}" SET default_transaction_read_only = on'
        )
    _, found = results(
        pg_env(local_postgres, FLOE_POSTGRES__DATABASE=local_database), "--check", "postgres"
    )
    assert f"database {local_database} is read-only" == found["postgres"]["message"]


@pytest.mark.requirement(FAILURES, evidence="real")
def test_missing_client_extra() -> None:
    """Snowflake is tested at the client boundary: without the extra, the check says how to add it."""
    _, found = results({"FLOE_COMPUTE__TYPE": "snowflake"}, "--check", "compute")
    assert found["compute"]["message"] == "the Snowflake client is not installed"
    assert "floe-preflight[snowflake]" in str(found["compute"]["remediation"])


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_trino_select_1_over_the_statement_protocol() -> None:
    with trino() as url:
        port = url.rsplit(":", 1)[1]
        code, found = results(
            {
                "FLOE_COMPUTE__TYPE": "trino",
                "FLOE_COMPUTE__HOST": "127.0.0.1",
                "FLOE_COMPUTE__PORT": port,
            },
            "--check",
            "compute",
        )
    assert code == 0, found
    assert str(found["compute"]["message"]).startswith("SELECT 1 returned 1")


@pytest.mark.requirement("007-FR-034", evidence="stand-in")
def test_failed_prerequisite_skips_the_dependent_check(
    local_s3: S3Endpoint, rest_catalog: str
) -> None:
    _, found = results(
        s3_env(local_s3, "no-such-bucket") | rest_env(rest_catalog),
        "--check",
        "storage",
        "--check",
        "catalog",
    )
    assert found["storage"]["status"] == "error"
    assert found["catalog"]["status"] == "skipped"
    assert found["catalog"]["message"] == "prerequisite storage did not pass"


@pytest.mark.requirement(FAILURES, evidence="stand-in")
@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_trino_query_failure() -> None:
    with trino(failure="Access Denied: Cannot execute query") as url:
        env = {
            "FLOE_COMPUTE__TYPE": "trino",
            "FLOE_COMPUTE__HOST": "127.0.0.1",
            "FLOE_COMPUTE__PORT": url.rsplit(":", 1)[1],
        }
        code, found = results(env, "--check", "compute")
    assert code == 3
    assert "PERMISSION_DENIED: Access Denied" in str(found["compute"]["message"])
    assert "may run queries" in str(found["compute"]["remediation"])
