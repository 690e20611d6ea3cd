"""CompiledArtifacts: the one configuration file of the platform, and the secrets beside it.

The file (JSON, path in FLOE_ARTIFACTS; a mounted ConfigMap in Kubernetes) says where things
are; secrets never go into it and come only from environment variables.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ARTIFACTS_ENV = "FLOE_ARTIFACTS"
ARTIFACTS_RECORD_ENV = "FLOE_ARTIFACTS_RECORD"
STORAGE_SECRET_ENV = "AWS_SECRET_ACCESS_KEY"
POSTGRES_PASSWORD_ENV = "POSTGRES_PASSWORD"
POLARIS_SECRET_ENV = "POLARIS_CLIENT_SECRET"
BATCH_TAG = "floe/batch-number"
HOLD_TAG = "floe/hold-seconds"
"""A run tagged with it waits this long before it generates: rehearsals keep a run in flight
across an upgrade or a terminate with it."""
"""Run tag naming the batch a demo run generates (schedules set it to the tick's time)."""
JOB_NAME = "demo_pipeline"
LOCATION_NAME = "floe_demo"
"""The code location's name, in every workspace (compose, Helm, tests)."""


class ConfigurationError(Exception):
    """A setting is missing or wrong; the message names it and says what to change."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
"""libpq's sslmode values."""
LIBPQ_DEFAULT_SSLMODE: SslMode = "prefer"


class PostgresConfig(Strict):
    host: str
    port: int = 5432
    database: str
    user: str
    sslmode: SslMode = Field(
        default=LIBPQ_DEFAULT_SSLMODE,
        description="libpq sslmode; verify-ca and verify-full check the server's certificate "
        "against PGSSLROOTCERT (the chart's tls.caBundle); prefer leaves libpq's default "
        "(PGSSLMODE, else prefer)",
    )

    def tls_parameters(self) -> dict[str, str]:
        """The sslmode to pass to libpq: none for prefer, so a PGSSLMODE the pod sets still holds."""
        return {} if self.sslmode == LIBPQ_DEFAULT_SSLMODE else {"sslmode": self.sslmode}

    def dsn(self, password: SecretStr) -> str:
        """libpq's conninfo, quoted by psycopg: a password with spaces or quotes stays whole."""
        from psycopg.conninfo import make_conninfo  # noqa: PLC0415 (only where a client connects)

        return make_conninfo(
            host=self.host, port=self.port, dbname=self.database, user=self.user,
            password=password.get_secret_value(), connect_timeout=5, **self.tls_parameters(),
        )  # fmt: skip

    def sqlalchemy_uri(self, password: SecretStr) -> str:
        """The SQL catalog's URI (psycopg), carrying the sslmode as libpq's query parameter;
        user and password percent-encoded by SQLAlchemy (a password may hold @, : or /)."""
        from sqlalchemy.engine import URL  # noqa: PLC0415 (half a second; only the catalog needs it)

        url = URL.create(
            "postgresql+psycopg", username=self.user, password=password.get_secret_value(),
            host=self.host, port=self.port, database=self.database, query=self.tls_parameters(),
        )  # fmt: skip
        return url.render_as_string(hide_password=False)


class CatalogConfig(Strict):
    """An Iceberg catalog: SQL (metadata in Postgres, the demo's default) or REST (e.g. Polaris)."""

    type: Literal["sql", "rest"]
    name: str = "floe"
    warehouse: str = Field(
        description="sql: s3://bucket/prefix; rest: the catalog's warehouse name"
    )
    postgres: PostgresConfig | None = Field(
        default=None, description="sql catalogs: where metadata lives"
    )
    uri: str | None = Field(default=None, description="rest catalogs: the catalog's base URL")
    client_id: str | None = Field(default=None, description="rest catalogs: OAuth2 client id")
    scope: str = "PRINCIPAL_ROLE:ALL"


class StorageConfig(Strict):
    type: Literal["s3"] = "s3"
    endpoint: str | None = Field(default=None, description="S3-compatible endpoint; None for AWS")
    bucket: str
    region: str = "us-east-1"
    access_key_id: str
    path_style: bool = True


class ComputeConfig(Strict):
    type: Literal["duckdb", "trino", "snowflake", "bigquery"] = "duckdb"
    host: str | None = None
    port: int | None = None
    user: str | None = None
    catalog: str | None = None
    account: str | None = None
    project: str | None = None


class DataQualityConfig(Strict):
    null_rate: float = Field(default=0.02, ge=0, le=1)
    duplicate_rate: float = Field(default=0.01, ge=0, le=1)
    late_arrival_rate: float = Field(default=0.05, ge=0, le=1)


class DemoConfig(Strict):
    enabled: bool = True
    schedule_interval: str = "*/5 * * * *"
    batch_size: int = Field(default=100, gt=0)
    seed: int = 42
    namespace: str = "demo"
    table: str = "orders"
    data_quality: DataQualityConfig = DataQualityConfig()


class ServingConfig(Strict):
    """The Postgres database that holds marts for Cube."""

    postgres: PostgresConfig
    schema_name: str = Field(default="marts", alias="schema")


class CompiledArtifacts(Strict):
    version: Literal[1] = 1
    catalog: CatalogConfig
    storage: StorageConfig
    compute: ComputeConfig = ComputeConfig()
    serving: ServingConfig
    demo: DemoConfig = DemoConfig()


class Secrets(BaseModel):
    """Secrets, from environment variables only; never printed (SecretStr)."""

    storage_secret_access_key: SecretStr
    postgres_password: SecretStr
    polaris_client_secret: SecretStr | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Secrets:
        env = os.environ if environ is None else environ
        missing = [
            name for name in (STORAGE_SECRET_ENV, POSTGRES_PASSWORD_ENV) if not env.get(name)
        ]
        if missing:
            raise ConfigurationError(
                f"environment variable {missing[0]} is not set: set it to the secret"
            )
        polaris = env.get(POLARIS_SECRET_ENV)
        return cls(
            storage_secret_access_key=SecretStr(env[STORAGE_SECRET_ENV]),
            postgres_password=SecretStr(env[POSTGRES_PASSWORD_ENV]),
            polaris_client_secret=SecretStr(polaris) if polaris else None,
        )


def record_artifacts_in_use(path: str | Path | None = None) -> None:
    """Write the digest of the artifacts file, in `sha256sum -c` form, to the file named by
    FLOE_ARTIFACTS_RECORD (when set). The code server's liveness probe checks it against the
    mounted file, so a release that changes the artifacts restarts the server: Helm cannot put
    the file's checksum on the dagster chart's pod template."""
    record = os.environ.get(ARTIFACTS_RECORD_ENV)
    location = path or os.environ.get(ARTIFACTS_ENV)
    if not record or not location or not Path(location).is_file():
        return
    digest = hashlib.sha256(Path(location).read_bytes()).hexdigest()
    Path(record).write_text(f"{digest}  {location}\n")


def load_artifacts(path: str | Path | None = None) -> CompiledArtifacts:
    """Read and validate the CompiledArtifacts file; errors name the setting to fix."""
    location = path or os.environ.get(ARTIFACTS_ENV)
    if not location:
        raise ConfigurationError(
            f"{ARTIFACTS_ENV} is not set: point it at the CompiledArtifacts JSON file"
        )
    file = Path(location)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"CompiledArtifacts file {file} does not exist: fix {ARTIFACTS_ENV}"
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"CompiledArtifacts file {file} is not valid JSON (line {error.lineno}): fix the file"
        ) from None
    try:
        artifacts = CompiledArtifacts.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"CompiledArtifacts setting {where}: {first['msg']}") from None
    if artifacts.catalog.type == "sql" and artifacts.catalog.postgres is None:
        raise ConfigurationError(
            "CompiledArtifacts setting catalog.postgres: required for a sql catalog"
        )
    if artifacts.catalog.type == "rest" and not (
        artifacts.catalog.uri and artifacts.catalog.client_id
    ):
        raise ConfigurationError(
            "CompiledArtifacts settings catalog.uri and catalog.client_id: required for a rest catalog"
        )
    return artifacts
