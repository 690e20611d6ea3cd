"""The output forms: a rich table (people), JSON (machines), log lines (CI logs); the check list,
the resolved settings, and the progress shown while checks run.

Every string in a table is a rich Text: a server's `[…]` is text, never markup."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.status import Status as Spinner
from rich.table import Table
from rich.text import Text

from floe_preflight.checks import CHECKS
from floe_preflight.model import SCHEMA_VERSION, CheckResult, ExitCode, Report, Status
from floe_preflight.runner import Progress, ProgressCallback

STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.ERROR: "red", Status.SKIPPED: "dim"}


def document(payload: dict[str, Any]) -> str:
    """Every JSON document preflight prints carries the schema version."""
    return json.dumps({"schema_version": SCHEMA_VERSION, **payload}, indent=2)


def as_json(report: Report, exit_code: ExitCode) -> str:
    return document(
        {
            "results": [r.model_dump(mode="json") for r in report.results],
            "notices": report.notices,
            "exit_code": int(exit_code),
        }
    )


def error_json(message: str, setting: str, exit_code: ExitCode) -> str:
    return document(
        {"error": {"message": message, "setting": setting or None, "exit_code": int(exit_code)}}
    )


def as_line(result: CheckResult) -> str:
    """`[CATALOG] ERROR: OAuth2 client authentication failed …. Remediation: …`"""
    line = (
        f"[{result.service.upper()}] {result.status.value.upper()}: {result.message.rstrip('.')}."
    )
    if result.remediation and result.status is not Status.OK:
        line += f" Remediation: {result.remediation}"
    return line


def as_lines(report: Report) -> str:
    return "\n".join([*(f"[NOTICE] {n}" for n in report.notices), *map(as_line, report.results)])


def print_table(report: Report, console: Console) -> None:
    table = Table(title="preflight", title_justify="left")
    for column in ("service", "type", "status", "ms", "message", "remediation"):
        table.add_column(column)
    for r in report.results:
        table.add_row(
            Text(r.service),
            Text(r.type),
            Text(r.status.value, style=STYLES[r.status]),
            Text(str(r.duration_ms)),
            Text(r.message),
            Text(r.remediation or ""),
        )
    console.print(table)
    for notice in report.notices:
        console.print(Text.assemble(("notice:", "yellow"), " ", notice))


def check_list() -> list[dict[str, Any]]:
    return [
        {"check": spec.name, "types": spec.types, "probe": spec.probe, "needs": spec.needs,
         "prerequisites": spec.after}
        for spec in CHECKS.values()
    ]  # fmt: skip


def print_rows(rows: list[dict[str, Any]], title: str, console: Console) -> None:
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ():
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(str(value) if value is not None else "") for value in row.values()))
    console.print(table)


@contextmanager
def progress(console: Console) -> Iterator[ProgressCallback | None]:
    """A spinner naming the checks still running, on a terminal only (logs get the report)."""
    if not console.is_terminal:
        yield None
        return
    begun = time.monotonic()
    running: dict[str, str] = {}
    with Spinner("preflight", console=console) as spinner:

        def update(event: Progress) -> None:
            if event.state == "done":
                running.pop(event.check, None)
                if event.result is not None:
                    result = event.result
                    console.print(
                        Text.assemble(
                            f"  {result.service}: ",
                            (result.status.value, STYLES[result.status]),
                            f" ({result.duration_ms} ms)",
                        )
                    )
            else:
                running[event.check] = event.state
            names = ", ".join(f"{name} ({state})" for name, state in running.items())
            spinner.update(f"preflight {time.monotonic() - begun:.1f} s: {names or 'done'}")

        yield update
