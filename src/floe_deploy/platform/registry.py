"""The local OCI registry (Debian's docker-registry, distribution 2.8) that images and charts go to."""

from __future__ import annotations

import json
import shutil
import socket

import httpx

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.platform.daemons import ManagedDaemon
from floe_deploy.settings import Settings

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT_S = 20.0
API_HEADER = "Docker-Distribution-Api-Version"


def registry_daemon(settings: Settings) -> ManagedDaemon:
    return ManagedDaemon("registry", "docker-registry", settings.state_dir)


def registry_api_version(settings: Settings, timeout: float = 2.0) -> str | None:
    """The registry API version the address answers with, or None when no registry answers."""
    try:
        response = httpx.get(f"http://{settings.registry}/v2/", timeout=timeout)
    except httpx.HTTPError:
        return None
    version: str | None = response.headers.get(API_HEADER)
    return version


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def write_config(settings: Settings) -> str:
    """A registry config with no auth, loopback only, storage in the state dir (JSON is YAML)."""
    root = settings.state_dir / "registry"
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": settings.registry, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    path = root / "config.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return str(path)


def start_registry(settings: Settings) -> bool:
    """Make the registry answer; True when this call started it (so a rollback stops it)."""
    if registry_api_version(settings):
        return False
    host, port = settings.registry_host, settings.registry_port
    if host not in LOOPBACK_HOSTS:
        raise FloeError(
            f"the registry {settings.registry} does not answer and is not local, so it can't be started",
            "check the registry address, or set FLOE_REGISTRY=127.0.0.1:5000 for a local one",
        )
    if port_in_use(host, port):
        raise FloeError(
            f"port {port} on {host} is taken by a program that is not a registry",
            f"stop that program (`ss -ltnp 'sport = :{port}'` names it) or set FLOE_REGISTRY={host}:<free port>",
        )
    executable = shutil.which("docker-registry")
    if executable is None:
        raise FloeError("docker-registry is not installed", "run scripts/bootstrap")
    daemon = registry_daemon(settings)
    pid = daemon.start(["serve", write_config(settings)])
    serving = lambda: bool(registry_api_version(settings, timeout=0.5))  # noqa: E731
    if daemon.wait_until_serving(pid, serving, START_TIMEOUT_S, 0.2):
        return True
    daemon.stop()
    raise FloeError(
        f"the local registry did not start on {settings.registry}",
        f"read {daemon.log_file}",
        exit_code=ExitCode.FAILURE,
        details=daemon.log_tail(),
    )


def stop_registry(settings: Settings) -> bool:
    """Stop the registry only when platform.up started it."""
    return registry_daemon(settings).stop()
