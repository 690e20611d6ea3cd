"""What preflight checks, from floe-deploy.toml ([preflight]), FLOE_* variables and the seed's
variable names (POLARIS_CLIENT_ID, POLARIS_CLIENT_SECRET, POSTGRES_PASSWORD, AWS_*), then flags.

Nested settings use `__`: FLOE_STORAGE__BUCKET, FLOE_CATALOG__URI, FLOE_POSTGRES__HOST.
Precedence: flags, FLOE_* variables, the seed's names, the file, the default (Sources.where).
Secrets are SecretStr: they print as '**********'; a URL's password is masked structurally.
An unknown key in a section is an error naming the closest valid one; so is a bad value, naming
where it came from (flag, variable or file); hosts and URLs are validated at load.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import unquote, urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

CONFIG_FILE = "floe-deploy.toml"
ENV_PREFIX = "FLOE_"
CheckName = Literal["compute", "storage", "catalog", "postgres", "platform"]
Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


RESERVED_IN_USERINFO = set("/?#[]@")
"""Characters that end a URL's userinfo early (RFC 3986 §3.2.1); `:` only separates the password."""


def checked_host(host: str | None) -> str | None:
    """A host name or IP address (IPv6 with or without brackets), never a URL."""
    if host is None:
        return None
    bare = host.strip().removeprefix("[").removesuffix("]")
    if not bare or "://" in bare or "/" in bare or any(c.isspace() for c in bare):
        raise ValueError("a host name or IP address is expected, not a URL or path")
    return bare


def checked_url(url: str | None, schemes: set[str]) -> str | None:
    """A URL with one of `schemes`, a host and a numeric port if any; the password in its
    userinfo (everything up to the last `@`) must be percent-encoded. No part of the value
    is echoed: it may hold a password."""
    if url is None:
        return None
    scheme, marker, rest = url.partition("://")
    if not marker or scheme.lower() not in schemes:
        raise ValueError(
            f"a URL starting with {' or '.join(sorted(s + '://' for s in schemes))} is expected"
        )
    userinfo = rest.rpartition("@")[0] if "@" in rest else ""
    if RESERVED_IN_USERINFO & set(userinfo.replace(":", "")):
        raise ValueError(
            "the user or password in the URL holds a reserved character (/ ? # [ ] @): "
            "percent-encode it (e.g. @ as %40, / as %2F)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(
            "the URL's host or port is malformed (an IPv6 address goes in brackets: [::1]:5432)"
        ) from None
    if not parts.hostname and scheme.lower().startswith(("http",)):
        raise ValueError("the URL has no host")
    return url


class ComputeSettings(Section):
    type: Literal["duckdb", "trino", "snowflake", "bigquery"] = Field(
        default="duckdb",
        description="the engine to probe; the workload computes in DuckDB in process whatever this is",
    )
    host: str | None = Field(default=None, description="trino: coordinator host")
    port: int | None = Field(default=None, description="trino: coordinator port (8080 for http)")
    user: str = Field(default="floe", description="trino, snowflake: the user to connect as")
    catalog: str | None = Field(default=None, description="trino: catalog of the Iceberg tables")
    http_scheme: Literal["http", "https"] = Field(
        default="http", description="trino: http or https"
    )
    account: str | None = Field(default=None, description="snowflake: account identifier")
    password: SecretStr | None = Field(
        default=None, description="trino (https), snowflake: password"
    )
    project: str | None = Field(default=None, description="bigquery: Google Cloud project id")
    ca_file: str | None = Field(
        default=None,
        description="trino (https): CA bundle that signed the coordinator's certificate",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return checked_host(value)


class StorageSettings(Section):
    type: Literal["s3"] = Field(default="s3", description="S3 or an S3-compatible server")
    endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL; unset for AWS S3"
    )
    bucket: str | None = Field(default=None, description="the Iceberg warehouse bucket")
    region: str = Field(default="us-east-1", description="the bucket's region")
    access_key_id: str | None = Field(default=None, description="access key id")
    secret_access_key: SecretStr | None = Field(default=None, description="secret access key")
    session_token: SecretStr | None = Field(
        default=None, description="temporary credentials (STS): their session token"
    )
    warehouse_prefix: str = Field(
        default="warehouse",
        description="key prefix of the warehouse; --write-probe writes under it",
    )
    path_style: bool = Field(
        default=True, description="path-style addressing (MinIO and most S3-compatible servers)"
    )
    ca_bundle: str | None = Field(
        default=None, description="CA bundle boto3 verifies the endpoint's certificate with"
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return checked_url(value, {"http", "https"})


class CatalogSettings(Section):
    type: Literal["rest", "sql"] = Field(
        default="sql",
        description="rest (Polaris or another Iceberg REST catalog) or sql (Postgres)",
    )
    uri: str | None = Field(
        default=None,
        description="rest: base URL, e.g. https://polaris/api/catalog; "
        "sql: postgresql://user[:password]@host:port/db (SQLAlchemy's postgresql+psycopg:// too)",
    )
    password: SecretStr | None = Field(
        default=None,
        description="sql: the password when the URI has none (else POSTGRES_PASSWORD, as the platform does)",
    )
    warehouse: str | None = Field(default=None, description="rest: the catalog (warehouse) name")
    client_id: str | None = Field(
        default=None, description="rest: OAuth2 client id of the principal"
    )
    client_secret: SecretStr | None = Field(
        default=None, description="rest: OAuth2 client secret of the principal"
    )
    scope: str = Field(default="PRINCIPAL_ROLE:ALL", description="rest: OAuth2 scope requested")
    verify_tls: bool = Field(
        default=True, description="rest: verify the catalog's TLS certificate (off only for tests)"
    )
    ca_file: str | None = Field(
        default=None, description="rest: CA bundle that signed the catalog's certificate"
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        return checked_url(
            value,
            {
                "http",
                "https",
                "postgresql",
                "postgres",
                "postgresql+psycopg",
                "postgresql+psycopg2",
            },
        )


class PostgresSettings(Section):
    host: str | None = Field(default=None, description="server host; unset skips the check")
    port: int = Field(default=5432, description="server port")
    database: str = Field(default="postgres", description="database Dagster uses")
    user: str = Field(default="postgres", description="user Dagster connects as")
    password: SecretStr | None = Field(default=None, description="that user's password")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="prefer", description="libpq sslmode; production: require or verify-full"
    )
    sslrootcert: str | None = Field(
        default=None,
        description="libpq sslrootcert: the CA file verify-ca and verify-full check the server against",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return checked_host(value)


class PlatformSettings(Section):
    min_memory_gb: float = Field(default=4.0, description="available memory below this is an error")
    min_disk_gb: float = Field(default=10.0, description="free disk below this is an error")
    docker_socket: str = Field(
        default="/var/run/docker.sock", description="the Docker engine's socket to probe"
    )


SEED_NAMES: dict[str, str] = {
    "catalog.client_id": "POLARIS_CLIENT_ID",
    "catalog.client_secret": "POLARIS_CLIENT_SECRET",
    "postgres.password": "POSTGRES_PASSWORD",
    "storage.access_key_id": "AWS_ACCESS_KEY_ID",
    "storage.secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "storage.session_token": "AWS_SESSION_TOKEN",
}
"""The seed's variable names, and the setting each fills when the FLOE_* settings leave it empty."""


class PreflightSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=CONFIG_FILE,
    )

    compute: ComputeSettings = ComputeSettings()
    storage: StorageSettings = StorageSettings()
    catalog: CatalogSettings = CatalogSettings()
    postgres: PostgresSettings = PostgresSettings()
    platform: PlatformSettings = PlatformSettings()
    timeout: Seconds = Field(default=5.0, description="seconds each check may take")
    timeouts: dict[CheckName, Seconds] = Field(
        default_factory=dict, description="per-check seconds, e.g. timeouts.postgres = 10"
    )
    ca_bundle: str | None = Field(
        default=None,
        description="the private CA (PEM bundle): the default of compute.ca_file, "
        "storage.ca_bundle, catalog.ca_file and postgres.sslrootcert",
    )

    polaris_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("POLARIS_CLIENT_ID"), exclude=True
    )
    polaris_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POLARIS_CLIENT_SECRET"), exclude=True
    )
    postgres_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POSTGRES_PASSWORD"), exclude=True
    )
    aws_access_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"), exclude=True
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"), exclude=True
    )
    aws_session_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SESSION_TOKEN"), exclude=True
    )

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def source_of(self, dotted: str) -> str:
        """The variable, flag or file key that set a setting ('default' when none did)."""
        return self._origins.get(dotted, "default")

    @model_validator(mode="after")
    def _seed_names_fill_gaps(self) -> PreflightSettings:
        """The seed's variable names fill what the FLOE_* settings leave empty."""
        catalog, storage, postgres = self.catalog, self.storage, self.postgres
        catalog.client_id = catalog.client_id or self.polaris_client_id
        catalog.client_secret = catalog.client_secret or self.polaris_client_secret
        postgres.password = postgres.password or self.postgres_password
        storage.access_key_id = storage.access_key_id or self.aws_access_key_id
        storage.secret_access_key = storage.secret_access_key or self.aws_secret_access_key
        storage.session_token = storage.session_token or self.aws_session_token
        if self.ca_bundle:
            self.compute.ca_file = self.compute.ca_file or self.ca_bundle
            storage.ca_bundle = storage.ca_bundle or self.ca_bundle
            catalog.ca_file = catalog.ca_file or self.ca_bundle
            postgres.sslrootcert = postgres.sslrootcert or self.ca_bundle
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

    def timeout_for(self, check: str) -> float:
        return float(self.timeouts.get(check, self.timeout))  # type: ignore[call-overload]

    def catalog_password(self) -> tuple[str | None, str]:
        """The SQL catalog's password and the setting it came from: the URI, else
        FLOE_CATALOG__PASSWORD, else POSTGRES_PASSWORD (the runtime reads the catalog's from it too)."""
        parts = urlsplit(self.catalog.uri or "")
        if parts.password:
            return unquote(parts.password), self.source_of("catalog.uri")
        if self.catalog.password:
            return self.catalog.password.get_secret_value(), self.source_of("catalog.password")
        if self.postgres_password:
            return self.postgres_password.get_secret_value(), "POSTGRES_PASSWORD"
        return None, "FLOE_CATALOG__PASSWORD"

    def secrets(self) -> list[str]:
        """Every secret value long enough to mask without revealing it (8 characters or more):
        a shorter one is never substituted, so that masking cannot point at where it is."""
        values = [
            self.catalog.client_secret, self.catalog.password, self.storage.secret_access_key,
            self.storage.session_token, self.postgres.password, self.compute.password,
            self.polaris_client_secret, self.postgres_password, self.aws_secret_access_key,
            self.aws_session_token,
        ]  # fmt: skip
        found = {value.get_secret_value() for value in values if value}
        for uri in (self.catalog.uri, self.storage.endpoint):
            password = urlsplit(uri or "").password
            if password:
                found |= {password, unquote(password)}
        return sorted((s for s in found if len(s) >= MASKABLE), key=len, reverse=True)


MASKABLE = 8


class PreflightTomlSource(TomlConfigSettingsSource):
    """The [preflight] table of floe-deploy.toml (or of the file --config names)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.toml_data = self.toml_data.get("preflight", {})
        self.init_kwargs = self.toml_data


URL_WITH_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>\S*)@", re.IGNORECASE)
"""A URL's userinfo runs up to the last `@` of the URL: a password may hold an unencoded `@`."""


def mask_userinfo(text: str) -> str:
    """Every URL's password replaced whole by ***, the user kept."""

    def masked(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user}{':***' if colon else ''}@"

    return URL_WITH_USERINFO.sub(masked, text)


def scrub(text: str, secrets: list[str]) -> str:
    """The text with every URL's password masked and every maskable secret (see
    PreflightSettings.secrets) replaced whole; a server's reply may echo one."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return mask_userinfo(text)


# loading ------------------------------------------------------------------------------------


class ConfigurationError(Exception):
    """A setting is invalid or unknown: one line (or JSON) with exit code 2."""

    def __init__(self, message: str, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Sources:
    """Where settings come from: the config file's [preflight] table, the environment and flags
    (only --timeout sets a value: `timeout`, or `timeouts` for CHECK=SECONDS)."""

    config_file: Path
    table: Mapping[str, Any]
    environ: Mapping[str, str]
    flags: Mapping[str, Any]

    def env_name(self, dotted: str) -> str:
        return ENV_PREFIX + dotted.upper().replace(".", "__")

    def env_value(self, dotted: str) -> str | None:
        wanted = self.env_name(dotted)
        return next((v for k, v in self.environ.items() if k.upper() == wanted), None)

    def in_table(self, dotted: str) -> bool:
        node: Any = self.table
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    def origin(self, dotted: str) -> str:
        """Where the value of one setting came from, in the order pydantic-settings applies them."""
        where = self.where(dotted)
        if where.startswith("--"):
            return f"flag {where}"
        if where.isupper():
            return f"environment {where}"
        return where

    def where(self, dotted: str) -> str:
        """The flag, variable or file key that set a setting ('default' when none did), in the
        documented order: flags, FLOE_* variables, the seed's variables, the file."""
        if dotted in self.flags or (
            dotted.startswith("timeouts.")
            and dotted.split(".")[1] in self.flags.get("timeouts", {})
        ):
            return "--timeout"
        if self.env_value(dotted) is not None:
            return self.env_name(dotted)
        seed = SEED_NAMES.get(dotted)
        if seed and seed in self.environ:
            return seed
        if self.in_table(dotted):
            return f"{self.config_file} [preflight] {dotted}"
        return "default"


def read_sources(config: Path | None, flags: Mapping[str, Any]) -> Sources:
    """The config file (an explicit --config must exist; floe-deploy.toml is optional)."""
    path = config or Path(CONFIG_FILE)
    if config is not None and not path.is_file():
        raise ConfigurationError(f"config file {path} does not exist", "--config")
    table: Mapping[str, Any] = {}
    if path.is_file():
        try:
            document = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(f"{path} is not valid TOML: {error}", str(path)) from None
        if config is not None and "preflight" not in document:
            raise ConfigurationError(
                f"{path} has no [preflight] table, so it sets nothing; put the settings under "
                "[preflight]", "--config",
            )  # fmt: skip
        table = document.get("preflight", {})
    return Sources(path, table, dict(os.environ), dict(flags))


def load_settings(sources: Sources) -> PreflightSettings:
    """Settings from flags, environment and the config file; errors name where a bad value came from."""

    class FromConfigFile(PreflightSettings):
        model_config = SettingsConfigDict(toml_file=sources.config_file)

    try:
        settings = FromConfigFile(**sources.flags)
    except SettingsError:
        structured = [
            name for name in sources.environ
            if name.upper().removeprefix(ENV_PREFIX).lower() in {*SECTIONS, "timeouts"}
            and name.upper().startswith(ENV_PREFIX)
        ]  # fmt: skip
        named = structured[0] if structured else "a FLOE_* variable"
        raise ConfigurationError(
            f"{named} is not valid JSON; set one value per variable instead "
            f"({named}__<KEY>=VALUE, e.g. FLOE_TIMEOUTS__POSTGRES=10)",
            named,
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        dotted = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigurationError(_unknown(dotted, sources), sources.where(dotted)) from None
        raise ConfigurationError(
            f"invalid setting {dotted} (from {sources.origin(dotted)}): "
            f"{first['msg'].removeprefix('Value error, ')}",
            sources.where(dotted),
        ) from None
    settings._origins = {name: sources.where(name) for name in known_settings()}
    sections: dict[str, BaseModel] = {name: getattr(settings, name) for name in SECTIONS}
    for dotted, seed in SEED_NAMES.items():
        if settings.source_of(dotted) == seed:
            section, key = dotted.split(".")
            seeded = getattr(settings, SEED_FIELDS[seed])
            setattr(sections[section], key, seeded)
    return settings


SEED_FIELDS = {
    "POLARIS_CLIENT_ID": "polaris_client_id",
    "POLARIS_CLIENT_SECRET": "polaris_client_secret",
    "POSTGRES_PASSWORD": "postgres_password",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
}


def known_settings() -> list[str]:
    """Every dotted setting name, e.g. postgres.host."""
    names = [
        name for name, field in PreflightSettings.model_fields.items()
        if not field.exclude and name not in SECTIONS and name != "timeouts"
    ]  # fmt: skip
    for section, model in SECTIONS.items():
        names += [f"{section}.{key}" for key in model.model_fields]
    names += [f"timeouts.{check}" for check in get_args(CheckName)]
    return names


SECTIONS: dict[str, type[Section]] = {
    "compute": ComputeSettings,
    "storage": StorageSettings,
    "catalog": CatalogSettings,
    "postgres": PostgresSettings,
    "platform": PlatformSettings,
}


def _closest(name: str, candidates: list[str]) -> str:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {found[0]}?)" if found else ""


def _unknown(dotted: str, sources: Sources) -> str:
    """'unknown setting postgres.hots from environment FLOE_POSTGRES__HOTS (did you mean postgres.host?)'"""
    names = known_settings()
    section = dotted.split(".", maxsplit=1)[0]
    candidates = [name for name in names if name.startswith(f"{section}.")] or names
    return f"unknown setting {dotted} from {sources.origin(dotted)}{_closest(dotted, candidates)}"


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """FLOE_* variables that look like a preflight setting but are none (FLOE_POSTGRES_HOST).

    Other FLOE_* variables belong to the rest of the toolkit, so only look-alikes are reported.
    """
    wanted = {ENV_PREFIX + name.upper().replace(".", "__"): name for name in known_settings()}
    notices = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in wanted or "__" in upper:
            continue
        close = difflib.get_close_matches(upper, list(wanted), n=1, cutoff=0.85)
        if close:
            notices.append(
                f"{variable} is not a preflight setting (did you mean {close[0]}?); it was ignored"
            )
    return notices


def resolved_settings(settings: PreflightSettings, sources: Sources) -> list[dict[str, str]]:
    """Every setting's value (secrets masked, URI passwords removed) and where it came from."""
    dumped = settings.model_dump()
    rows = []
    for dotted in known_settings():
        node: Any = dumped
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, SecretStr):
            shown = "**********"
        elif node is None:
            shown = ""
        else:
            shown = mask_userinfo(str(node))
        rows.append({"setting": dotted, "value": shown, "source": sources.origin(dotted)})
    return rows
