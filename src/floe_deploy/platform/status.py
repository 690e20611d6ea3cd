"""What `platform.status` reports: one typed snapshot of the local container platform."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from pydantic import BaseModel, computed_field
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.platform.emulation import arm64_emulation_enabled, host_is_arm64
from floe_deploy.platform.engine import docker_client, dockerd, engine_address
from floe_deploy.platform.registry import registry_api_version, registry_daemon
from floe_deploy.settings import Settings

GIB = 1024**3


class EngineStatus(BaseModel):
    address: str
    reachable: bool
    server_version: str | None = None
    api_version: str | None = None
    client_version: str | None = None
    storage_driver: str | None = None
    root_dir: str | None = None
    started_by_floe: bool


class ToolsStatus(BaseModel):
    buildx_version: str | None
    compose_version: str | None


class BuilderStatus(BaseModel):
    name: str | None
    driver: str | None
    platforms: list[str]


class EmulationStatus(BaseModel):
    arm64: bool
    native: bool


class RegistryStatus(BaseModel):
    address: str
    reachable: bool
    api_version: str | None
    started_by_floe: bool


class ResourcesStatus(BaseModel):
    disk_path: str
    free_disk_gb: float
    min_free_disk_gb: float
    free_memory_gb: float
    min_free_memory_gb: float


class PlatformStatus(BaseModel):
    engine: EngineStatus
    tools: ToolsStatus
    builder: BuilderStatus
    emulation: EmulationStatus
    registry: RegistryStatus
    resources: ResourcesStatus
    problems: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def healthy(self) -> bool:
        return not self.problems


def _version_number(text: str | None) -> str | None:
    """`github.com/docker/buildx 0.13.1+ds1 …` → `0.13.1+ds1`; `Docker Compose version v2.26.1` → `2.26.1`."""
    if not text:
        return None
    match = re.search(r"v?(\d+\.\d+\.\d+\S*)", text)
    return match[1] if match else text


def _engine(client: DockerClient, settings: Settings) -> EngineStatus:
    started = dockerd(settings).running_pid() is not None
    base = {"address": engine_address(settings), "started_by_floe": started}
    try:
        version = client.version()
        info = client.system.info()
    except DockerException:
        return EngineStatus(reachable=False, **base)
    return EngineStatus(
        reachable=True,
        server_version=version.server.version if version.server else None,
        api_version=version.server.api_version if version.server else None,
        client_version=version.client.version if version.client else None,
        storage_driver=info.driver,
        root_dir=str(info.docker_root_dir) if info.docker_root_dir else None,
        **base,
    )


def _tools(client: DockerClient) -> ToolsStatus:
    def version_of(call: str) -> str | None:
        try:
            return _version_number(
                client.buildx.version() if call == "buildx" else client.compose.version()
            )
        except DockerException:
            return None

    return ToolsStatus(buildx_version=version_of("buildx"), compose_version=version_of("compose"))


def _builder(client: DockerClient, reachable: bool) -> BuilderStatus:
    if not reachable:
        return BuilderStatus(name=None, driver=None, platforms=[])
    try:
        builder = client.buildx.inspect()
    except DockerException:
        return BuilderStatus(name=None, driver=None, platforms=[])
    platforms = sorted({p for node in builder.nodes or [] for p in node.platforms or []})
    return BuilderStatus(name=builder.name, driver=builder.driver, platforms=platforms)


def free_memory_gb(meminfo: Path = Path("/proc/meminfo")) -> float:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return round(int(line.split()[1]) * 1024 / GIB, 2)
    return 0.0


def free_disk(path: Path) -> tuple[Path, float]:
    """The nearest existing directory at or above path, and the GiB free on its disk."""
    while not path.exists():
        path = path.parent
    return path, round(shutil.disk_usage(path).free / GIB, 2)


def _resources(settings: Settings, engine: EngineStatus) -> ResourcesStatus:
    disk_path, free_gb = free_disk(Path(engine.root_dir) if engine.root_dir else settings.state_dir)
    return ResourcesStatus(
        disk_path=str(disk_path),
        free_disk_gb=free_gb,
        min_free_disk_gb=settings.min_free_disk_gb,
        free_memory_gb=free_memory_gb(),
        min_free_memory_gb=settings.min_free_memory_gb,
    )


def _problems(status: PlatformStatus) -> list[str]:
    problems = []
    if not status.engine.reachable:
        problems.append(f"Docker engine at {status.engine.address} does not answer")
    if status.tools.buildx_version is None:
        problems.append("docker buildx plugin missing")
    if status.tools.compose_version is None:
        problems.append("docker compose v2 plugin missing")
    if not status.emulation.arm64:
        problems.append("arm64 emulation (qemu-aarch64 binfmt) not enabled")
    elif status.engine.reachable and "linux/arm64" not in status.builder.platforms:
        problems.append(
            "the builder does not offer linux/arm64 (restart the engine after enabling QEMU)"
        )
    if not status.registry.reachable:
        problems.append(f"no registry answers on {status.registry.address}")
    resources = status.resources
    if resources.free_disk_gb < resources.min_free_disk_gb:
        problems.append(
            f"{resources.free_disk_gb} GB free on {resources.disk_path}, below {resources.min_free_disk_gb} GB"
        )
    if resources.free_memory_gb < resources.min_free_memory_gb:
        problems.append(
            f"{resources.free_memory_gb} GB memory available, below {resources.min_free_memory_gb} GB"
        )
    return problems


def platform_status(settings: Settings) -> PlatformStatus:
    client = docker_client(settings)
    engine = _engine(client, settings)
    api_version = registry_api_version(settings)
    status = PlatformStatus(
        engine=engine,
        tools=_tools(client),
        builder=_builder(client, engine.reachable),
        emulation=EmulationStatus(arm64=arm64_emulation_enabled(), native=host_is_arm64()),
        registry=RegistryStatus(
            address=settings.registry,
            reachable=api_version is not None,
            api_version=api_version,
            started_by_floe=registry_daemon(settings).running_pid() is not None,
        ),
        resources=_resources(settings, engine),
        problems=[],
    )
    status.problems = _problems(status)
    return status
