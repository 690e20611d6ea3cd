"""Helpers the fast tests and the e2e tests share: they drive the product as a user does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

__all__ = [
    "PROJECT_ROOT",
    "PostgresEndpoint",
    "S3Endpoint",
    "free_port",
    "isolated_demo_env",
    "run_task",
    "task_json",
]


@dataclass(frozen=True)
class PostgresEndpoint:
    """A Postgres server a test can reach, whoever started it (a container or a local cluster)."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def dsn(self, database: str | None = None) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible server a test can reach, with its credentials."""

    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        import boto3  # noqa: PLC0415 (only the tests that use S3 pay for boto3)
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 1},
            ),
        )


INVOKE = str(Path(sys.executable).parent / "invoke")
UPGRADE_REPORT = BUILD_DIR / "reports" / "helm-smoke-upgrade.json"
"""The JSON report of e2e's `helm.smoke --upgrade-from previous`: bench_helm_upgrade reads it
instead of rehearsing the upgrade a second time."""
BUNDLE_REPORT = BUILD_DIR / "reports" / "bundle.json"
"""The size and the export and import wall times e2e/test_bundle.py measured: bench_bundle reads it."""
OFFLINE_REPORT = BUILD_DIR / "reports" / "offline-install.json"
"""The offline install e2e/test_offline_install.py played: the bundle of the platform's own images (size,
export and import wall times), the pulls and the smoke's wall time; bench_bundle reads it."""


def run_task(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` from the project root, as a user would, with extra environment."""
    return subprocess.run(
        [INVOKE, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def task_json(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    """Run a task with `--json` and parse what it printed."""
    done = run_task(*args, "--json", env=env, timeout=timeout)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"not JSON (exit {done.returncode}): {done.stdout}{done.stderr}"
        ) from None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def isolated_demo_env(state_dir: Path | str, project: str) -> dict[str, str]:
    """Environment for `invoke demo.*` that keeps a stack apart from a user's demo on the same
    machine: its own state directory, compose project and a free host port for every service."""
    from floe_deploy.settings import DemoPorts  # noqa: PLC0415 (settings import pydantic)

    env = {"FLOE_STATE_DIR": str(state_dir), "FLOE_DEMO__PROJECT": project}
    return env | {
        f"FLOE_DEMO__PORTS__{name.upper()}": str(free_port()) for name in DemoPorts.model_fields
    }
