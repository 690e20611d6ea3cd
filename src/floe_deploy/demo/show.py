"""What the demo tasks print: URLs, step timings, services and row counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human

if TYPE_CHECKING:
    from floe_deploy.demo.operations import DownReport, StatusReport, UpReport
    from floe_deploy.demo.stack import Credentials


@json_or_human
def show_up(console: Console, report: UpReport) -> None:
    console.table(
        "timing", ["step", "seconds"], [(s.step, f"{s.seconds:.1f}") for s in report.steps]
    )
    console.table("floe demo", ["what", "where"], list(report.urls.items()))
    total = sum(step.seconds for step in report.steps)
    state = "changed" if report.changed else "already up, nothing changed"
    first = f"; first run {report.first_run}" if report.first_run else ""
    console.line(
        f"demo {report.project} is up ({state}, {total:.1f} s): {report.cube_orders} orders in Cube{first}. "
        "Credentials: `invoke demo.credentials`."
    )


@json_or_human
def show_status(console: Console, report: StatusReport) -> None:
    console.table(
        f"demo {report.project}",
        ["service", "state", "health", "ports"],
        [(s.service, s.state, s.health or "-", ", ".join(s.ports)) for s in report.services],
    )
    run = report.last_run
    rows = report.rows
    console.table(
        "data",
        ["what", "value"],
        [
            (
                "last demo run",
                f"{run.run_id} {run.status} (batch {run.batch_number})" if run else "none",
            ),
            ("rows in Iceberg (raw, duplicates included)", rows.iceberg),
            ("orders in the mart", rows.mart_orders),
            ("orders in Cube", rows.cube_orders),
        ],
    )
    for problem in rows.problems:
        console.line(f"PROBLEM: {problem}")
    if not report.services:
        console.line(f"demo {report.project} is not running: `invoke demo.up` starts it")


@json_or_human
def show_down(console: Console, report: DownReport) -> None:
    kept = (
        "volumes removed"
        if report.volumes_removed
        else "data volumes kept (`--volumes` removes them)"
    )
    console.line(
        f"demo {report.project}: {len(report.removed_containers)} containers removed, {kept}"
    )


def show_credentials(console: Console, credentials: Credentials) -> None:
    if console.json_mode:
        console.json(credentials.values())
        return
    console.table("demo credentials", ["name", "value"], list(credentials.values().items()))
