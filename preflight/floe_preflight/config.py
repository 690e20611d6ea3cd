"""What preflight checks, from floe-deploy.toml ([preflight]), FLOE_* variables and the seed's
variable names (POLARIS_CLIENT_ID, POLARIS_CLIENT_SECRET, POSTGRES_PASSWORD, AWS_*), then flags.

Nested settings use `__`: FLOE_STORAGE__BUCKET, FLOE_CATALOG__URI, FLOE_POSTGRES__HOST.
Secrets are SecretStr: they print as '**********' and preflight scrubs them from every message.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE = "floe-deploy.toml"


class ComputeSettings(BaseModel):
    type: Literal["duckdb", "trino", "snowflake", "bigquery"] = "duckdb"
    host: str | None = None
    port: int | None = None
    user: str = "floe"
    catalog: str | None = None
    http_scheme: Literal["http", "https"] = "http"
    account: str | None = None
    password: SecretStr | None = None
    project: str | None = None


class StorageSettings(BaseModel):
    type: Literal["s3"] = "s3"
    endpoint: str | None = None
    bucket: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    warehouse_prefix: str = "warehouse"
    path_style: bool = True


class CatalogSettings(BaseModel):
    type: Literal["rest", "sql"] = "sql"
    uri: str | None = Field(
        default=None, description="rest: base URL, e.g. https://polaris/api/catalog"
    )
    warehouse: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str = "PRINCIPAL_ROLE:ALL"
    verify_tls: bool = True


class PostgresSettings(BaseModel):
    host: str | None = None
    port: int = 5432
    database: str = "postgres"
    user: str = "postgres"
    password: SecretStr | None = None
    sslmode: str = "prefer"


class PlatformSettings(BaseModel):
    min_memory_gb: float = 4.0
    min_disk_gb: float = 10.0
    docker_socket: str = "/var/run/docker.sock"


class PreflightSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOE_",
        env_nested_delimiter="__",
        extra="ignore",
        toml_file=CONFIG_FILE,
    )

    compute: ComputeSettings = ComputeSettings()
    storage: StorageSettings = StorageSettings()
    catalog: CatalogSettings = CatalogSettings()
    postgres: PostgresSettings = PostgresSettings()
    platform: PlatformSettings = PlatformSettings()
    timeout: float = Field(default=5.0, gt=0, description="seconds each check may take")

    polaris_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("POLARIS_CLIENT_ID")
    )
    polaris_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POLARIS_CLIENT_SECRET")
    )
    postgres_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POSTGRES_PASSWORD")
    )
    aws_access_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY")
    )

    @model_validator(mode="after")
    def _seed_names_fill_gaps(self) -> PreflightSettings:
        """The seed's variable names fill what the FLOE_* settings leave empty."""
        catalog, storage, postgres = self.catalog, self.storage, self.postgres
        catalog.client_id = catalog.client_id or self.polaris_client_id
        catalog.client_secret = catalog.client_secret or self.polaris_client_secret
        postgres.password = postgres.password or self.postgres_password
        storage.access_key_id = storage.access_key_id or self.aws_access_key_id
        storage.secret_access_key = storage.secret_access_key or self.aws_secret_access_key
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, PreflightTomlSource(settings_cls)

    def secrets(self) -> list[str]:
        """Every secret value, so that no output can contain one."""
        values = [
            self.catalog.client_secret, self.storage.secret_access_key, self.postgres.password,
            self.compute.password,
        ]  # fmt: skip
        return [value.get_secret_value() for value in values if value and value.get_secret_value()]


class PreflightTomlSource(TomlConfigSettingsSource):
    """The [preflight] table of floe-deploy.toml."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.toml_data = self.toml_data.get("preflight", {})
        self.init_kwargs = self.toml_data
