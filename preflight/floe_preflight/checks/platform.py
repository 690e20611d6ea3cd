"""The platform check: what `demo.up` needs on this machine (the Docker engine, compose v2,
memory and disk)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.failures import CheckFailure, Kind
from floe_preflight.model import Status

GIB = 1024**3


def check_platform(probe: Probe) -> Outcome:
    """What `demo.up` needs here: a reachable Docker engine, compose v2, memory and disk."""
    platform = probe.settings.platform
    socket = platform.docker_socket
    probe.start()
    try:
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=socket), timeout=probe.timeout
        ) as client:
            version = client.get("http://docker/version").json()
    except (httpx.HTTPError, OSError, ValueError):
        raise CheckFailure(
            Kind.ENGINE_UNREACHABLE, f"the Docker engine does not answer on {socket}",
            endpoint=socket, setting="FLOE_PLATFORM__DOCKER_SOCKET",
        ) from None  # fmt: skip
    docker = shutil.which("docker")
    compose = (
        subprocess.run(
            [docker, "compose", "version", "--short"],
            capture_output=True,
            text=True,
            check=False,
            timeout=probe.timeout,
        )
        if docker
        else None
    )
    if compose is None or compose.returncode != 0:
        raise CheckFailure(Kind.COMPOSE_MISSING, "docker compose v2 is not installed")
    memory = _available_memory_gb()
    if memory < platform.min_memory_gb:
        raise CheckFailure(
            Kind.LOW_MEMORY,
            f"{memory:.1f} GB memory available, below {platform.min_memory_gb} GB",
            resource=f"{platform.min_memory_gb} GB", setting="FLOE_PLATFORM__MIN_MEMORY_GB",
        )  # fmt: skip
    disk = shutil.disk_usage(Path.cwd()).free / GIB
    if disk < platform.min_disk_gb:
        raise CheckFailure(
            Kind.LOW_DISK,
            f"{disk:.1f} GB free disk, below {platform.min_disk_gb} GB",
            resource=f"{platform.min_disk_gb} GB", setting="FLOE_PLATFORM__MIN_DISK_GB",
        )  # fmt: skip
    return Status.OK, (
        f"Docker {version.get('Version')} (API {version.get('ApiVersion')}), compose {compose.stdout.strip()}, "
        f"{memory:.1f} GB memory, {disk:.1f} GB disk free"
    )


def _available_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0


SPEC = CheckSpec(
    name="platform",
    run=check_platform,
    type_of=lambda settings: "docker",
    endpoint=lambda settings: settings.platform.docker_socket,
    endpoint_setting="FLOE_PLATFORM__DOCKER_SOCKET",
    types="local Docker",
    probe="engine API on the socket, `docker compose version`, free memory and disk",
    needs="nothing (FLOE_PLATFORM__DOCKER_SOCKET to move it)",
)
