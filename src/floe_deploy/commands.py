"""Running external programs to completion: `run` (a failure becomes a FloeError) and `attempt`
(a failure is an answer). The one other way is `platform.daemons`, which starts long-lived daemons."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

from floe_deploy.errors import ExitCode, FloeError


def tail(text: str, lines: int = 30) -> str:
    """The last `lines` lines of a program's output, for error details."""
    return "\n".join(text.strip().splitlines()[-lines:])


NOT_INSTALLED = 127
TIMED_OUT = 124
"""Exit codes of a program that could not start or outlived its timeout, as a shell reports them."""


@overload
def attempt(
    argv: Sequence[str],
    *,
    cwd: Path | None = ...,
    env: dict[str, str] | None = ...,
    stdin: str | None = ...,
    timeout: float | None = ...,
    binary: Literal[False] = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def attempt(
    argv: Sequence[str],
    *,
    cwd: Path | None = ...,
    env: dict[str, str] | None = ...,
    stdin: bytes | None = ...,
    timeout: float | None = ...,
    binary: Literal[True],
) -> subprocess.CompletedProcess[bytes]: ...


def attempt(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | bytes | None = None,
    timeout: float | None = None,
    binary: bool = False,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run a program to completion where its failure is an answer (probes, lookups): what it did,
    whatever its exit code. A program that is not installed ends as exit 127, one that outlives
    `timeout` as exit 124, each with a line on stderr. `binary` keeps stdin/stdout as bytes."""
    command = list(argv)
    try:
        return _execute(command, cwd=cwd, env=env, stdin=stdin, timeout=timeout, binary=binary)
    except FileNotFoundError:
        code, message = NOT_INSTALLED, _not_installed(command)
    except subprocess.TimeoutExpired:
        code, message = TIMED_OUT, _timed_out(command, timeout)
    if binary:
        return subprocess.CompletedProcess(command, code, b"", message.encode())
    return subprocess.CompletedProcess(command, code, "", message)


def run(
    argv: Sequence[str],
    *,
    remediation: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float | None = None,
) -> str:
    """Run a program to completion and return its stdout; a failure becomes a FloeError."""
    command = list(argv)
    try:
        done = _execute(command, cwd=cwd, env=env, stdin=stdin, timeout=timeout, binary=False)
    except FileNotFoundError:
        raise FloeError(_not_installed(command), remediation) from None
    except subprocess.TimeoutExpired:
        raise FloeError(
            _timed_out(command, timeout), remediation, exit_code=ExitCode.FAILURE
        ) from None
    if done.returncode != 0:
        raise FloeError(
            f"{' '.join(command[:3])} failed with exit code {done.returncode}",
            remediation,
            exit_code=ExitCode.FAILURE,
            details=tail(done.stderr or done.stdout),
        )
    return str(done.stdout)


def _execute(
    command: list[str],
    *,
    cwd: Path | None,
    env: dict[str, str] | None,
    stdin: str | bytes | None,
    timeout: float | None,
    binary: bool,
) -> subprocess.CompletedProcess[Any]:
    """The one call of subprocess.run: a missing program and a timeout raise, for the caller to
    turn into an answer (`attempt`) or an error (`run`)."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=not binary,
        timeout=timeout,
        check=False,
    )


def _not_installed(command: list[str]) -> str:
    return f"{command[0]} is not installed"


def _timed_out(command: list[str], timeout: float | None) -> str:
    return f"{command[0]} did not finish within {timeout:.0f} s"


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
