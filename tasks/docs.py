"""Docs generated from the code: the settings and task references in docs/reference/."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import JSON_HELP


@task(
    help={
        "check": "write nothing; exit 3 when a committed file differs from the code",
        "json": JSON_HELP,
    }
)
@reports_errors
def reference(c: Context, check: bool = False, json: bool = False) -> int:
    """Write docs/reference/settings.md and tasks.md from the settings models and this collection."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.reference import render_reference, write_reference
    from tasks import namespace

    report = write_reference(namespace, check=check)
    render_reference(Console(json_mode=json), report)
    return int(ExitCode.UNHEALTHY if check and report.stale else ExitCode.OK)
