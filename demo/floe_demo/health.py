"""Container health checks for the compose demo, cheap enough to run every few seconds on a busy
machine: none imports Dagster (that alone costs about 2 s of CPU a probe on 2 cores).

`grpc` asks a Dagster code server the standard gRPC health service (the question
`dagster api grpc-health-check` asks). `daemon` reads the daemon heartbeats from the instance's
Postgres storage, as `dagster-daemon liveness-check` does: healthy when every named daemon type
has a heartbeat within the heartbeat interval plus `DAGSTER_DAEMON_HEARTBEAT_TOLERANCE` (Dagster's
default 1800 s). Exit 0 healthy, 1 not, 2 bad usage; one line on stderr says why.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

USAGE = """usage:
    python -m floe_demo.health http URL
    python -m floe_demo.health grpc PORT
    python -m floe_demo.health daemon DAEMON_TYPE [DAEMON_TYPE ...]"""
DAGSTER_API_SERVICE = "DagsterApi"
HEARTBEAT_INTERVAL_S = 30.0
"""Dagster's DEFAULT_HEARTBEAT_INTERVAL_SECONDS, added to the tolerance as Dagster's check does."""
DEFAULT_HEARTBEAT_TOLERANCE_S = 1800.0
PROBE_TIMEOUT_S = 5.0


class Unhealthy(Exception):
    """The probe ran and the service is not healthy; the message says what was seen."""


def check_http(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:  # noqa: S310 (loopback URL from compose)
            status = response.status
    except OSError as error:
        raise Unhealthy(f"{url}: {error}") from error
    if status != 200:
        raise Unhealthy(f"{url} answered {status}")


def check_grpc(port: int) -> None:
    import grpc  # noqa: PLC0415 (only this probe pays for grpc)
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=DAGSTER_API_SERVICE), timeout=PROBE_TIMEOUT_S
            )
        except grpc.RpcError as error:
            raise Unhealthy(f"gRPC health on port {port}: {error.code().name}") from error
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        raise Unhealthy(f"gRPC health on port {port}: {name}")


def instance_postgres_conninfo(dagster_home: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """The connection of the instance's run storage, read from dagster.yaml as Dagster reads it
    (`storage.postgres.postgres_db`, values given as `{env: NAME}` taken from the environment)."""
    import yaml  # noqa: PLC0415 (PyYAML comes with Dagster)

    instance = yaml.safe_load((dagster_home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    settings = (instance.get("storage") or {}).get("postgres", {}).get("postgres_db")
    if not isinstance(settings, dict):
        raise ValueError(f"{dagster_home}/dagster.yaml has no storage.postgres.postgres_db")

    def value(key: str) -> Any:
        raw = settings.get(key)
        if isinstance(raw, dict) and "env" in raw:
            return environ.get(raw["env"], "")
        return raw

    return {
        "host": value("hostname"),
        "port": int(value("port") or 5432),
        "user": value("username"),
        "password": value("password"),
        "dbname": value("db_name"),
    }


def stale_daemons(
    heartbeats: Mapping[str, float], required: Sequence[str], now: float, tolerance_s: float
) -> list[str]:
    """The required daemon types whose last heartbeat is missing or older than allowed."""
    return [
        daemon
        for daemon in required
        if daemon not in heartbeats or now > heartbeats[daemon] + HEARTBEAT_INTERVAL_S + tolerance_s
    ]


def read_heartbeats(conninfo: Mapping[str, Any]) -> dict[str, float]:
    """Each daemon type's last heartbeat time, from the body Dagster serialises into the row."""
    import psycopg  # noqa: PLC0415

    with (
        psycopg.connect(**conninfo, connect_timeout=int(PROBE_TIMEOUT_S)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT daemon_type, body FROM daemon_heartbeats")
        return {daemon: float(json.loads(body)["timestamp"]) for daemon, body in cursor}


def check_daemon(required: Sequence[str], environ: Mapping[str, str]) -> None:
    dagster_home = Path(environ.get("DAGSTER_HOME", "."))
    tolerance = float(
        environ.get("DAGSTER_DAEMON_HEARTBEAT_TOLERANCE", DEFAULT_HEARTBEAT_TOLERANCE_S)
    )
    try:
        heartbeats = read_heartbeats(instance_postgres_conninfo(dagster_home, environ))
    except Exception as error:
        raise Unhealthy(f"daemon heartbeats unreadable: {type(error).__name__}: {error}") from error
    stale = stale_daemons(heartbeats, required, time.time(), tolerance)
    if stale:
        raise Unhealthy(f"no recent heartbeat from {', '.join(stale)}")


def probe_for(argv: Sequence[str], environ: Mapping[str, str]) -> Callable[[], None] | None:
    """The probe the command line asks for, or None when it is not one of the usages."""
    match list(argv):
        case ["http", url]:
            return partial(check_http, url)
        case ["grpc", port] if port.isdigit():
            return partial(check_grpc, int(port))
        case ["daemon", *required] if required:
            return partial(check_daemon, required, environ)
    return None


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    probe = probe_for(argv, environ)
    if probe is None:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        probe()
    except Unhealthy as error:
        print(f"unhealthy: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
