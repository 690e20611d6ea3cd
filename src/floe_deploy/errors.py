"""The one exception type every user-facing failure is raised as."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every task (documented in the README)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    UNHEALTHY = 3


class FloeError(Exception):
    """A failure the user can act on: what went wrong, and the command or change that fixes it."""

    def __init__(
        self,
        message: str,
        remediation: str,
        *,
        exit_code: ExitCode = ExitCode.USAGE,
        details: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.remediation = remediation
        self.exit_code = exit_code
        self.details = details

    def __str__(self) -> str:
        return f"{self.message}. Remediation: {self.remediation}"
