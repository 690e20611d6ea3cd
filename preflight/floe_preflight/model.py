"""Results of preflight checks, their statuses and the process exit code they add up to."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pydantic import BaseModel, Field


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


class ExitCode(IntEnum):
    """Documented and tested: 0 all ok, 2 usage/configuration, 3 an error, 4 warnings only."""

    OK = 0
    USAGE = 2
    ERROR = 3
    WARNINGS = 4


class CheckResult(BaseModel):
    """One line of the report; the JSON schema of `--json` is a list of these under `results`."""

    service: str = Field(description="compute, storage, catalog, postgres or platform")
    type: str = Field(description="the service's configured type, e.g. duckdb, s3, rest, sql")
    status: Status
    message: str
    remediation: str | None = None
    duration_ms: int = 0


class Report(BaseModel):
    results: list[CheckResult]

    @property
    def exit_code(self) -> ExitCode:
        statuses = {result.status for result in self.results}
        if Status.ERROR in statuses:
            return ExitCode.ERROR
        if Status.WARNING in statuses:
            return ExitCode.WARNINGS
        return ExitCode.OK
