"""Results of preflight checks, their statuses and the process exit code they add up to."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pydantic import BaseModel, Field

SCHEMA_VERSION = 2
"""Of the `--json` output; raised when a field changes meaning or goes away (adding one does not)."""


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


class ExitCode(IntEnum):
    """Documented and tested: 0 all ok, 2 usage/configuration, 3 an error, 4 warnings only,
    5 a check was skipped (not everything was proven; `--strict` makes that an error)."""

    OK = 0
    USAGE = 2
    ERROR = 3
    WARNINGS = 4
    SKIPPED = 5


class CheckResult(BaseModel):
    """One line of the report; the JSON schema of `--json` is a list of these under `results`."""

    service: str = Field(description="compute, storage, catalog, postgres or platform")
    type: str = Field(description="the service's configured type, e.g. duckdb, s3, rest, sql")
    status: Status
    message: str
    remediation: str | None = None
    kind: str | None = Field(
        default=None, description="why it is not ok, stable for machines (see the failure kinds)"
    )
    endpoint: str | None = Field(default=None, description="what was probed, credentials removed")
    setting: str | None = Field(
        default=None, description="the setting to fix: an environment variable or flag"
    )
    docs: str | None = Field(default=None, description="where the docs explain this kind")
    duration_ms: int = Field(
        default=0, description="the probe: connecting and talking to the service"
    )
    import_ms: int = Field(
        default=0, description="loading the client library and building the client"
    )


class Report(BaseModel):
    results: list[CheckResult]
    notices: list[str] = Field(
        default_factory=list, description="settings that look misspelled and were ignored"
    )

    def exit_code(self, *, warnings_ok: bool = False) -> ExitCode:
        statuses = {result.status for result in self.results}
        if Status.ERROR in statuses:
            return ExitCode.ERROR
        if Status.SKIPPED in statuses:
            return ExitCode.SKIPPED
        if Status.WARNING in statuses and not warnings_ok:
            return ExitCode.WARNINGS
        return ExitCode.OK
