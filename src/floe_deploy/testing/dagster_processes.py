"""Dagster as it runs in production, as local processes: code server, webserver and daemon.

Used by the integration test and the launch benchmark. Storage is Postgres; the run coordinator
dequeues every second and the job runs in process (the tuned settings of platform/NOTES.md).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from ruamel.yaml import YAML
from tenacity import retry, stop_after_delay, wait_fixed

from floe_demo.config import LOCATION_NAME
from floe_deploy.demo.stack import COMPOSE_DIR
from floe_deploy.testing import free_port

DAGSTER_YAML = COMPOSE_DIR / "dagster" / "dagster.yaml"


@dataclass(frozen=True)
class DagsterProcesses:
    webserver_port: int
    home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"


def dagster_yaml(postgres_host: str, postgres_port: int, user: str, database: str) -> str:
    """The compose demo's dagster.yaml (one source of the tuned settings), pointed at this Postgres."""
    yaml = YAML()
    instance = yaml.load(DAGSTER_YAML)
    instance["storage"]["postgres"]["postgres_db"].update(
        hostname=postgres_host, port=postgres_port, username=user, db_name=database
    )
    text = io.StringIO()
    yaml.dump(instance, text)
    return text.getvalue()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@retry(stop=stop_after_delay(120), wait=wait_fixed(0.25), reraise=True)
def _wait_for_webserver(url: str) -> None:
    httpx.get(f"{url}/server_info", timeout=2).raise_for_status()


@retry(stop=stop_after_delay(120), wait=wait_fixed(0.25), reraise=True)
def _wait_for_code_server(port: int, env: dict[str, str]) -> None:
    subprocess.run(
        [_bin("dagster"), "api", "grpc-health-check", "-p", str(port)],
        env=env,
        check=True,
        capture_output=True,
    )


@contextmanager
def dagster_processes(
    home: Path,
    *,
    postgres_host: str,
    postgres_port: int,
    user: str,
    database: str,
    env: dict[str, str],
) -> Iterator[DagsterProcesses]:
    """Start code server, webserver and daemon under `home`; stop all three on exit."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml(postgres_host, postgres_port, user, database))
    grpc_port, web_port = free_port(), free_port()
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n      location_name: {LOCATION_NAME}\n"
    )
    environment = {**os.environ, **env, "DAGSTER_HOME": str(home)}
    workspace = str(home / "workspace.yaml")
    commands = {
        "code-server": [_bin("dagster"), "code-server", "start", "-m", "floe_demo.definitions",
                        "-h", "127.0.0.1", "-p", str(grpc_port), "--location-name", LOCATION_NAME],
        "webserver": [_bin("dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(web_port)],
        "daemon": [_bin("dagster-daemon"), "run", "-w", workspace],
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, argv in commands.items():
            log = (home / f"{name}.log").open("wb")
            processes.append(
                subprocess.Popen(argv, env=environment, stdout=log, stderr=subprocess.STDOUT)
            )
            if name == "code-server":
                _wait_for_code_server(grpc_port, environment)
        _wait_for_webserver(f"http://127.0.0.1:{web_port}")
        yield DagsterProcesses(webserver_port=web_port, home=home)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
