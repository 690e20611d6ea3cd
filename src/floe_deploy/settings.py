"""One typed settings object for the toolkit.

Precedence, lowest first: `floe-deploy.toml` (or `[tool.floe-deploy]` in pyproject.toml) in the
working directory, then `FLOE_*` environment variables, then the options a task was given.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from floe_deploy.errors import FloeError

CONFIG_FILE = "floe-deploy.toml"


class ImageSource(StrEnum):
    """Where service images come from: upstream registries, hermetic builds, or auto-detected."""

    AUTO = "auto"
    UPSTREAM = "upstream"
    HERMETIC = "hermetic"


PLATFORM_PATTERN = re.compile(r"^linux/(amd64|arm64)$")


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "floe-deploy"


class DemoPorts(BaseModel):
    """Host ports of the compose demo, bound to 127.0.0.1 only."""

    model_config = ConfigDict(extra="forbid")

    dagster: int = Field(default=3000, gt=0, lt=65536, description="the Dagster UI")
    cube: int = Field(default=4000, gt=0, lt=65536, description="Cube's API")
    s3: int = Field(default=9000, gt=0, lt=65536, description="the S3 server's API")
    s3_console: int = Field(
        default=9001, gt=0, lt=65536, description="the S3 server's console (upstream MinIO)"
    )
    postgres: int = Field(
        default=15432, gt=0, lt=65536, description="Postgres (not 5432: a host server's port)"
    )
    dashboard: int = Field(
        default=8050, gt=0, lt=65536, description="the dashboard: orders through Cube, runs"
    )
    trino: int = Field(default=8080, gt=0, lt=65536, description="the `trino` profile")
    polaris: int = Field(default=8181, gt=0, lt=65536, description="the `polaris` profile")
    otlp: int = Field(default=4317, gt=0, lt=65536, description="`observability`: OTLP gRPC")
    marquez: int = Field(
        default=5050, gt=0, lt=65536,
        description="`observability`: Marquez's API (not 5000: the local registry's port)",
    )  # fmt: skip


class DemoSettings(BaseModel):
    """The compose demo: its project name (one state directory each) and host ports."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(
        default="floe-demo",
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="compose project name; each has its own state dir, credentials and data",
    )
    ports: DemoPorts = DemoPorts()
    healthy_timeout_s: int = Field(
        default=300,
        gt=0,
        description="seconds demo.up waits for every service to be healthy before it names the "
        "ones that are not, with their healthcheck and last log lines",
    )


class Settings(BaseSettings):
    """What the toolkit needs to know about the machine, the registry and the images it makes."""

    model_config = SettingsConfigDict(
        env_prefix="FLOE_",
        extra="forbid",
        env_nested_delimiter="__",
        toml_file=CONFIG_FILE,
        pyproject_toml_table_header=("tool", "floe-deploy"),
        validate_default=True,
    )

    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Where the toolkit keeps pid files, logs and the local registry's data.",
    )
    registry: str = Field(
        default="127.0.0.1:5000",
        description="host[:port] of the registry images are pushed to; platform.up starts a local one "
        "when it is on this machine",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="the private CA (PEM bundle) the toolkit's clients trust: the default of "
        "registry_ca and of the image builds' CA bundle; `invoke preflight` reads it too",
    )
    registry_ca: Path | None = Field(
        default=None,
        description="CA bundle (PEM) that registries' TLS certificates chain to, for every registry "
        "operation (oras, cosign); credentials come from `docker login` (DOCKER_CONFIG)",
    )
    docker_host: str | None = Field(
        default=None,
        description="Docker engine address (unix:///… or tcp://…); default: the Docker CLI's own.",
    )
    image_prefix: str = Field(default="floe", description="Repository prefix of the images built.")
    release_repository: str | None = Field(
        default=None,
        description="GitHub OWNER/REPO whose .github/workflows/release.yml signs releases keyless "
        "(the identity gitops.validate requires of the admission policy and Flux); unset: the "
        "repository the GitOps tree's GitRepository names",
    )
    build_jobs: int = Field(
        default=4,
        ge=1,
        le=16,
        description="image builds run at the same time once the golden base exists (1: one by one); "
        "they wait mostly on package downloads, so more than the cores pays",
    )
    platforms: Annotated[list[str], NoDecode] = Field(
        default=["linux/amd64", "linux/arm64"],
        description="Target platforms of image builds; comma-separated in FLOE_PLATFORMS.",
    )
    image_source: ImageSource = Field(
        default=ImageSource.AUTO,
        description="upstream images, hermetic images built from Debian packages, or auto-detect",
    )
    mirror: str | None = Field(
        default=None,
        description="registry mirror (host[:port][/path]) that every upstream reference is rewritten to",
    )
    python_version: str = Field(default="3.11", description="Python version of the images.")
    debian_suite: str = Field(default="bookworm", description="Debian suite of hermetic images.")
    debian_mirror: str | None = Field(
        default=None,
        description="Debian archive the golden base is debootstrapped from (default: the one in the "
        "system's apt sources; set it where they name none, e.g. on GitHub's Ubuntu runners)",
    )
    preflight: dict[str, Any] = Field(
        default_factory=dict,
        description="floe-preflight's own table ([preflight]); read by floe_preflight",
    )
    demo: DemoSettings = Field(
        default_factory=DemoSettings,
        description="the compose demo ([demo], FLOE_DEMO__PROJECT, FLOE_DEMO__PORTS__DAGSTER, …)",
    )
    schemas_dir: Path | None = Field(
        default=None,
        description="directory with crds/ and dagster/ JSON schemas; unset: a cache in the state "
        "dir, filled from the pinned upstream sources",
    )
    dagster_chart: Path | None = Field(
        default=None,
        description="an unpacked official dagster chart to render with when the umbrella's charts/ "
        "has none (`invoke helm.deps` fills charts/); e.g. a copy made on a connected machine",
    )
    min_free_disk_gb: float = Field(default=10.0, description="Free disk below this is unhealthy.")
    build_cache_max_gb: float = Field(
        default=20.0,
        gt=0,
        description="images.prune trims the build cache to this size, least recently used first",
    )
    min_free_memory_gb: float = Field(
        default=4.0, description="Free memory below this is unhealthy."
    )

    @field_validator(
        "schemas_dir", "dagster_chart", "ca_bundle", "registry_ca", "debian_mirror", mode="before"
    )
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("platforms", mode="before")
    @classmethod
    def _split_platforms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("platforms")
    @classmethod
    def _check_platforms(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not PLATFORM_PATTERN.match(p)]
        if bad:
            raise ValueError(f"unsupported platform {bad[0]!r}; use linux/amd64 or linux/arm64")
        if not value:
            raise ValueError("at least one platform is needed")
        return value

    @field_validator("ca_bundle", "registry_ca")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file (a PEM CA bundle)")
        return value

    @model_validator(mode="after")
    def _one_private_ca(self) -> Settings:
        """One setting for the private CA; a per-client one still wins where it is set."""
        self.registry_ca = self.registry_ca or self.ca_bundle
        return self

    @field_validator("registry")
    @classmethod
    def _check_registry(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep and value and "/" not in value:
            return value
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host[:port]")
        return value

    @property
    def registry_host(self) -> str:
        host, sep, _ = self.registry.rpartition(":")
        return host if sep else self.registry

    @property
    def registry_port(self) -> int:
        """The port (443 for a registry named without one, as registries on HTTPS default to)."""
        _host, sep, port = self.registry.rpartition(":")
        return int(port) if sep else 443

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls),
            PyprojectTomlConfigSettingsSource(settings_cls),
        )


def load_settings(**options: Any) -> Settings:
    """Settings from file < env < `options`; options left as None don't override anything."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise FloeError(
            f"invalid setting {where}: {first['msg']}",
            f"fix {where} in {CONFIG_FILE}, the FLOE_{where.upper()} variable or the task option",
        ) from None
