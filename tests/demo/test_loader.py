"""IcebergLoader against real pyiceberg, a real Postgres catalog and a real S3 server (moto)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from floe_demo.config import CompiledArtifacts, ConfigurationError, Secrets
from floe_demo.generator import EcommerceGenerator, batch_id
from floe_demo.loader import IcebergLoader, open_catalog
from floe_deploy.testing import PostgresEndpoint, S3Endpoint

from .conftest import ArtifactsFactory

pytestmark = pytest.mark.requirement("007-FR-024", evidence="stand-in")


def test_append_creates_namespace_and_table_and_is_idempotent(artifacts: CompiledArtifacts) -> None:
    loader = IcebergLoader.from_artifacts(artifacts, Secrets.from_env())
    batch = EcommerceGenerator(seed=7).generate(1_700_000_000)
    first = loader.append(batch, batch_id(7, 1_700_000_000))
    assert first.appended
    assert first.rows == 100
    again = loader.append(batch, batch_id(7, 1_700_000_000))
    assert not again.appended
    assert loader.read().num_rows == 100
    loader.append(EcommerceGenerator(seed=7).generate(1_700_000_300), batch_id(7, 1_700_000_300))
    assert loader.read().num_rows == 200
    assert loader.loaded_batches() == {batch_id(7, 1_700_000_000), batch_id(7, 1_700_000_300)}


def test_missing_bucket_names_the_setting_and_writes_nothing(
    make_artifacts: ArtifactsFactory, local_postgres: PostgresEndpoint, local_database: str
) -> None:
    from floe_demo.config import load_artifacts  # noqa: PLC0415

    artifacts = load_artifacts(make_artifacts(storage={"bucket": "no-such-bucket"}))
    with pytest.raises(ConfigurationError, match=r"storage.bucket 'no-such-bucket' does not exist"):
        IcebergLoader.from_artifacts(artifacts, Secrets.from_env())
    with psycopg.connect(local_postgres.dsn(local_database)) as connection:
        tables = connection.execute("SELECT to_regclass('iceberg_tables')").fetchone()
    assert tables == (None,), "no catalog tables were created"


def test_a_password_with_url_and_conninfo_characters_reaches_catalog_and_mart(
    make_artifacts: ArtifactsFactory,
    local_postgres: PostgresEndpoint,
    local_database: str,
    local_s3: S3Endpoint,
) -> None:
    """A generated or vaulted password may hold @ : / % and quotes: the SQL catalog's URI and the
    mart's conninfo must carry it whole (a role with such a password on the real Postgres)."""
    from floe_demo.config import load_artifacts  # noqa: PLC0415

    role, password = f"r_{local_database}", "p@ss:w/rd %2F 'q\\ \"x"
    with psycopg.connect(local_postgres.dsn(local_database), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))  # fmt: skip
        connection.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(role)))
    artifacts = load_artifacts(make_artifacts(catalog={"postgres": {
        "host": local_postgres.host, "port": local_postgres.port,
        "database": local_database, "user": role}}))  # fmt: skip
    secrets = Secrets(
        storage_secret_access_key=SecretStr(local_s3.secret_key),
        postgres_password=SecretStr(password),
    )
    loader = IcebergLoader.from_artifacts(artifacts, secrets)
    assert (
        loader.append(EcommerceGenerator(seed=7).generate(1_700_000_000), batch_id(7, 1)).rows
        == 100
    )
    assert artifacts.catalog.postgres is not None
    with psycopg.connect(artifacts.catalog.postgres.dsn(SecretStr(password))) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (role,)


def test_wrong_postgres_password_names_the_setting(
    artifacts: CompiledArtifacts, local_s3: S3Endpoint
) -> None:
    secrets = Secrets(
        storage_secret_access_key=SecretStr(local_s3.secret_key),
        postgres_password=SecretStr("wrong"),
    )
    with pytest.raises(ConfigurationError, match="POSTGRES_PASSWORD") as caught:
        IcebergLoader.from_artifacts(artifacts, secrets)
    assert "wrong" not in str(caught.value)


def test_a_table_with_another_schema_is_refused(artifacts: CompiledArtifacts) -> None:
    import pyarrow as pa  # noqa: PLC0415

    loader = IcebergLoader.from_artifacts(artifacts, Secrets.from_env())
    loader.catalog.create_namespace("demo")
    loader.catalog.create_table(
        ("demo", "orders"), schema=pa.schema([pa.field("other", pa.string())])
    )
    with pytest.raises(ConfigurationError, match="exists with another schema"):
        loader.append(EcommerceGenerator().generate(1), "b1")
    assert loader.catalog.load_table(("demo", "orders")).current_snapshot() is None


def test_rest_catalog_opens_with_client_credentials(
    artifacts: CompiledArtifacts, local_s3: S3Endpoint
) -> None:
    """Polaris can't run here: a local server speaking the Iceberg REST protocol's OAuth2 and
    config endpoints stands in; pyiceberg's RestCatalog really authenticates against it."""
    from floe_deploy.testing.protocol_servers import iceberg_rest  # noqa: PLC0415

    with iceberg_rest("floe-client", "rest-secret", {"demo"}) as url:
        rest = artifacts.model_copy(
            update={
                "catalog": artifacts.catalog.model_copy(
                    update={
                        "type": "rest",
                        "uri": url,
                        "warehouse": "demo",
                        "client_id": "floe-client",
                    }
                )
            }
        )
        good = Secrets(storage_secret_access_key=SecretStr(local_s3.secret_key), postgres_password=SecretStr("x"),
                       polaris_client_secret=SecretStr("rest-secret"))  # fmt: skip
        assert open_catalog(rest, good).name == "floe"
        bad = good.model_copy(update={"polaris_client_secret": SecretStr("wrong-rest-secret")})
        with pytest.raises(ConfigurationError, match="POLARIS_CLIENT_SECRET") as caught:
            open_catalog(rest, bad)
        assert "wrong-rest-secret" not in str(caught.value)
        missing = good.model_copy(update={"polaris_client_secret": None})
        with pytest.raises(ConfigurationError, match="POLARIS_CLIENT_SECRET is not set"):
            open_catalog(rest, missing)
