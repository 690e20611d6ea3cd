"""Helpers the fast tests and the e2e tests share: they drive the product as a user does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from floe_deploy.paths import PROJECT_ROOT

__all__ = ["PROJECT_ROOT", "free_port", "run_task", "task_json"]

INVOKE = str(Path(sys.executable).parent / "invoke")


def run_task(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` from the project root, as a user would, with extra environment."""
    return subprocess.run(
        [INVOKE, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def task_json(*args: str, env: dict[str, str] | None = None) -> Any:
    """Run a task with `--json` and parse what it printed."""
    done = run_task(*args, "--json", env=env)
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
