"""The three output forms: a rich table (people), JSON (machines), log lines (CI logs)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from floe_preflight.model import Report, Status

STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.ERROR: "red", Status.SKIPPED: "dim"}


def as_json(report: Report) -> str:
    return json.dumps(
        {
            "results": [r.model_dump(mode="json") for r in report.results],
            "exit_code": int(report.exit_code),
        },
        indent=2,
    )


def as_lines(report: Report) -> str:
    """`[CATALOG] ERROR: OAuth2 authentication failed (401 Unauthorized). Remediation: …`"""
    lines = []
    for result in report.results:
        line = f"[{result.service.upper()}] {result.status.value.upper()}: {result.message.rstrip('.')}."
        if result.remediation and result.status is not Status.OK:
            line += f" Remediation: {result.remediation}"
        lines.append(line)
    return "\n".join(lines)


def print_table(report: Report, console: Console) -> None:
    table = Table(title="preflight", title_justify="left")
    for column in ("service", "type", "status", "ms", "message", "remediation"):
        table.add_column(column)
    for r in report.results:
        table.add_row(
            r.service,
            r.type,
            f"[{STYLES[r.status]}]{r.status.value}[/]",
            str(r.duration_ms),
            r.message,
            r.remediation or "",
        )
    console.print(table)
