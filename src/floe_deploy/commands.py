"""Running external programs, with failures turned into FloeError."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from floe_deploy.errors import ExitCode, FloeError


def tail(text: str, lines: int = 30) -> str:
    """The last `lines` lines of a program's output, for error details."""
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    remediation: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run a program to completion and return its stdout; a failure becomes a FloeError."""
    merged_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=merged_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise FloeError(f"{argv[0]} is not installed", remediation) from None
    except subprocess.TimeoutExpired:
        raise FloeError(
            f"{argv[0]} did not finish within {timeout:.0f} s",
            remediation,
            exit_code=ExitCode.FAILURE,
        ) from None
    if done.returncode != 0:
        raise FloeError(
            f"{' '.join(argv[:3])} failed with exit code {done.returncode}",
            remediation,
            exit_code=ExitCode.FAILURE,
            details=tail(done.stderr or done.stdout),
        )
    return done.stdout


def as_root(argv: Sequence[str]) -> list[str]:
    """Prefix `sudo` when not root, so package installs work for a normal user too."""
    if os.geteuid() == 0:
        return list(argv)
    if shutil.which("sudo") is None:
        raise FloeError(
            f"{argv[0]} needs root and sudo is not installed",
            "run scripts/bootstrap as root",
        )
    return ["sudo", *argv]
