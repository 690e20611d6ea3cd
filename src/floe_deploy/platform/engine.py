"""The Docker engine: reach it, or start Debian's dockerd when no service manager runs one."""

from __future__ import annotations

import os
import shutil
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.platform.daemons import ManagedDaemon
from floe_deploy.settings import Settings

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
START_TIMEOUT_S = 60.0


def docker_client(settings: Settings, **compose: Any) -> DockerClient:
    """The one way the toolkit talks to Docker (python-on-whales over the Docker CLI).

    `compose` takes DockerClient's compose_* options (files, env files, project, profiles).
    """
    if settings.docker_host:
        return DockerClient(host=settings.docker_host, **compose)
    return DockerClient(**compose)


def engine_address(settings: Settings) -> str:
    return settings.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def engine_reachable(client: DockerClient) -> bool:
    try:
        client.system.info()
    except DockerException:
        return False
    return True


def dockerd(settings: Settings) -> ManagedDaemon:
    return ManagedDaemon("dockerd", "dockerd", settings.state_dir)


def start_engine(settings: Settings) -> bool:
    """Make the engine reachable; True when this call started dockerd (so a rollback stops it)."""
    client = docker_client(settings)
    if engine_reachable(client):
        return False
    address = engine_address(settings)
    if shutil.which("docker") is None:
        raise FloeError("the docker CLI is not installed", "run scripts/bootstrap")
    if address != DEFAULT_SOCKET:
        raise FloeError(
            f"the Docker engine at {address} does not answer",
            "start that engine, or unset FLOE_DOCKER_HOST/DOCKER_HOST to use the local one",
        )
    executable = shutil.which("dockerd")
    if executable is None:
        raise FloeError(
            "the Docker engine is not running and dockerd is not installed",
            "run scripts/bootstrap (or start Docker Desktop / the docker service)",
        )
    if os.geteuid() != 0:
        raise FloeError(
            "the Docker engine is not running and starting dockerd needs root",
            "start the docker service (sudo systemctl start docker) or run platform.up as root",
        )
    daemon = dockerd(settings)
    pid = daemon.start([])
    if daemon.wait_until_serving(pid, lambda: engine_reachable(client), START_TIMEOUT_S, 0.3):
        return True
    daemon.stop()
    raise FloeError(
        "dockerd did not start",
        f"read {daemon.log_file}; another engine may hold /var/run/docker.pid",
        exit_code=ExitCode.FAILURE,
        details=daemon.log_tail(),
    )


def stop_engine(settings: Settings) -> bool:
    """Stop dockerd only when platform.up started it."""
    return dockerd(settings).stop(timeout=30.0)
