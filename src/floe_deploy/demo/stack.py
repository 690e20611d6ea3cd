"""One demo stack: its state directory, generated credentials, CompiledArtifacts and compose project.

Everything the compose file interpolates is written to `compose.env` in the stack's state
directory (mode 0600): image references, credentials and host ports. Credentials are made once
per state directory and kept, so the data in the volumes stays readable across `up`s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr
from python_on_whales import DockerClient

from floe_demo.config import (
    CatalogConfig,
    CompiledArtifacts,
    DemoConfig,
    PostgresConfig,
    Secrets,
    ServingConfig,
    StorageConfig,
)
from floe_deploy.errors import FloeError
from floe_deploy.images.source import ResolvedSource, mirrored
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings
from floe_deploy.yaml_read import load_document

COMPOSE_DIR = PROJECT_ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
DEFAULT_SERVICES = (
    "postgres", "s3", "code-location", "webserver", "daemon", "cube", "dashboard",
)  # fmt: skip
OPTIONAL_PROFILES = {
    "trino": ("trino",),
    "polaris": ("polaris",),
    "observability": ("otel-collector", "marquez"),
}
WAREHOUSE_BUCKET = "floe-warehouse"
DATABASE = "floe"
USER = "floe"
S3_ACCESS_KEY = "floe-demo"
S3_HEALTHCHECKS = {
    ResolvedSource.UPSTREAM: "mc ready local",
    ResolvedSource.HERMETIC: (
        "node -e \"require('http').get('http://127.0.0.1:9000/', r => process.exit("
        "r.statusCode < 500 ? 0 : 1)).on('error', () => process.exit(1))\""
    ),
}
SERVICE_IMAGES = {"postgres": "postgres", "s3": "s3", "cube": "cube", "dagster": "dagster"}
"""Catalog image → the FLOE_<NAME>_IMAGE variable the compose file reads."""
PROFILE_IMAGE = re.compile(r"^\$\{(FLOE_[A-Z_]+_IMAGE):-([^}]+)\}$")


def profile_images() -> dict[str, str]:
    """The optional profiles' upstream images as compose.yaml names them: variable → image."""
    services = load_document(COMPOSE_FILE.read_text())["services"]
    return {
        match[1]: match[2]
        for service in services.values()
        if service.get("profiles") and (match := PROFILE_IMAGE.match(str(service.get("image", ""))))
    }


class Credentials(BaseModel):
    """The demo's generated secrets; shown only by `demo.credentials`."""

    postgres_password: SecretStr
    s3_access_key: str = S3_ACCESS_KEY
    s3_secret_key: SecretStr
    cube_api_secret: SecretStr
    polaris_client_secret: SecretStr

    def values(self) -> dict[str, str]:
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self
        }


class StackImages(BaseModel):
    source: ResolvedSource
    references: dict[str, str]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)


class DemoStack:
    """The compose project `settings.demo.project` and what it keeps in its state directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.demo.project
        self.ports = settings.demo.ports
        self.state_dir = settings.state_dir / "demo" / self.project

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "credentials.json"

    @property
    def artifacts_file(self) -> Path:
        return self.state_dir / "artifacts.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "compose.env"

    @property
    def images_file(self) -> Path:
        return self.state_dir / "images.json"

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dagster}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dashboard}"

    @property
    def cube_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.cube}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    def credentials(self, *, create: bool = True) -> Credentials:
        """The stack's credentials, generated on first use and kept (mode 0600)."""
        if self.credentials_file.exists():
            return Credentials.model_validate_json(self.credentials_file.read_text())
        if not create:
            raise FloeError(
                f"demo {self.project} has no credentials yet", "run `invoke demo.up` first"
            )
        made = Credentials(
            postgres_password=SecretStr(secrets.token_urlsafe(18)),
            s3_secret_key=SecretStr(secrets.token_urlsafe(24)),
            cube_api_secret=SecretStr(secrets.token_hex(32)),
            polaris_client_secret=SecretStr(secrets.token_urlsafe(18)),
        )
        _write_private(self.credentials_file, json.dumps(made.values(), indent=2))
        return made

    def secrets(self) -> Secrets:
        made = self.credentials(create=False)
        return Secrets(
            storage_secret_access_key=made.s3_secret_key,
            postgres_password=made.postgres_password,
        )

    def demo_config(self, batch_size: int | None, interval: str | None) -> DemoConfig:
        """The demo settings: the options given, else what the last `up` wrote, else defaults."""
        current = self.artifacts("container").demo if self.artifacts_file.exists() else DemoConfig()
        update: dict[str, object] = {}
        if batch_size is not None:
            update["batch_size"] = batch_size
        if interval is not None:
            update["schedule_interval"] = interval
        return DemoConfig.model_validate(current.model_dump() | update)

    def artifacts(self, view: Literal["container", "host"]) -> CompiledArtifacts:
        """The CompiledArtifacts the containers read, or the same stack as seen from this host."""
        if view == "container":
            return CompiledArtifacts.model_validate_json(self.artifacts_file.read_text())
        inside = self.artifacts("container")
        postgres = PostgresConfig(
            host="127.0.0.1", port=self.ports.postgres, database=DATABASE, user=USER
        )
        return inside.model_copy(
            update={
                "catalog": inside.catalog.model_copy(update={"postgres": postgres}),
                "storage": inside.storage.model_copy(update={"endpoint": self.s3_url}),
                "serving": inside.serving.model_copy(update={"postgres": postgres}),
            }
        )

    def write_artifacts(self, demo: DemoConfig) -> bool:
        """Write the containers' CompiledArtifacts; whether the file changed."""
        postgres = PostgresConfig(host="postgres", port=5432, database=DATABASE, user=USER)
        artifacts = CompiledArtifacts(
            catalog=CatalogConfig(
                type="sql", warehouse=f"s3://{WAREHOUSE_BUCKET}/warehouse", postgres=postgres
            ),
            storage=StorageConfig(
                endpoint="http://s3:9000", bucket=WAREHOUSE_BUCKET, access_key_id=S3_ACCESS_KEY
            ),
            serving=ServingConfig(postgres=postgres),
            demo=demo,
        )
        text = artifacts.model_dump_json(indent=2, by_alias=True) + "\n"
        if self.artifacts_file.exists() and self.artifacts_file.read_text() == text:
            return False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.artifacts_file.write_text(text)
        return True

    def compose_environment(self, images: StackImages) -> dict[str, str]:
        made = self.credentials()
        ports = self.ports
        environment = {
            f"FLOE_{variable.upper()}_IMAGE": images.references[name]
            for name, variable in SERVICE_IMAGES.items()
        } | {
            variable: mirrored(image, self.settings.mirror)
            for variable, image in profile_images().items()
        }
        return environment | {
            "FLOE_DEMO_ARTIFACTS": str(self.artifacts_file),
            "FLOE_POSTGRES_PASSWORD": made.postgres_password.get_secret_value(),
            "FLOE_S3_ACCESS_KEY": made.s3_access_key,
            "FLOE_S3_SECRET_KEY": made.s3_secret_key.get_secret_value(),
            "FLOE_CUBE_API_SECRET": made.cube_api_secret.get_secret_value(),
            "FLOE_POLARIS_CLIENT_SECRET": made.polaris_client_secret.get_secret_value(),
            "FLOE_S3_HEALTHCHECK": S3_HEALTHCHECKS[images.source],
            "FLOE_POSTGRES_PORT": str(ports.postgres),
            "FLOE_S3_PORT": str(ports.s3),
            "FLOE_S3_CONSOLE_PORT": str(ports.s3_console),
            "FLOE_DAGSTER_PORT": str(ports.dagster),
            "FLOE_CUBE_PORT": str(ports.cube),
            "FLOE_DASHBOARD_PORT": str(ports.dashboard),
            "FLOE_TRINO_PORT": str(ports.trino),
            "FLOE_POLARIS_PORT": str(ports.polaris),
            "FLOE_OTLP_PORT": str(ports.otlp),
            "FLOE_MARQUEZ_PORT": str(ports.marquez),
        }

    def write_environment(self, images: StackImages) -> None:
        lines = [f"{key}={value}" for key, value in self.compose_environment(images).items()]
        _write_private(self.env_file, "\n".join(lines) + "\n")
        self.images_file.write_text(images.model_dump_json(indent=2) + "\n")

    def recorded_images(self) -> StackImages | None:
        if not self.images_file.exists():
            return None
        return StackImages.model_validate_json(self.images_file.read_text())

    @property
    def fingerprint_file(self) -> Path:
        return self.state_dir / "compose.fingerprint"

    def fingerprint(self, profiles: list[str]) -> str:
        """What `compose up` would act on: the compose files, their environment and the profiles."""
        digest = hashlib.sha256(",".join(sorted(profiles)).encode())
        for path in [*sorted(COMPOSE_DIR.rglob("*")), self.env_file, self.artifacts_file]:
            if path.is_file():
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def compose(self, profiles: list[str] | None = None) -> DockerClient:
        """A python-on-whales client bound to this compose project."""
        return docker_client(
            self.settings,
            compose_files=[COMPOSE_FILE],
            compose_env_files=[self.env_file] if self.env_file.exists() else [],
            compose_project_name=self.project,
            compose_project_directory=COMPOSE_DIR,
            compose_profiles=profiles or [],
        )

    def host_ports(self, profiles: list[str]) -> dict[str, int]:
        """Service → host port it publishes, for the default services and the chosen profiles."""
        ports = self.ports
        published = {
            "postgres": ports.postgres,
            "s3": ports.s3,
            "s3 console": ports.s3_console,
            "webserver": ports.dagster,
            "cube": ports.cube,
            "dashboard": ports.dashboard,
        }
        optional = {"trino": ports.trino, "polaris": ports.polaris,
                    "otel-collector": ports.otlp, "marquez": ports.marquez}  # fmt: skip
        for profile in profiles:
            for service in OPTIONAL_PROFILES[profile]:
                published[service] = optional[service]
        return published
