"""`floe-preflight`: the checks as a console script (also inside the runtime image)."""

from __future__ import annotations

import json
import sys
from typing import Literal

import click
from pydantic import ValidationError
from rich.console import Console

from floe_preflight.config import PreflightSettings
from floe_preflight.model import ExitCode, Report
from floe_preflight.render import as_json, as_lines, print_table
from floe_preflight.runner import CHECKS, run_preflight

Format = Literal["table", "json", "lines"]


class ConfigurationError(Exception):
    """A setting is invalid: reported as one line (or JSON) with exit code 2."""


def load(timeout: float | None) -> PreflightSettings:
    try:
        return PreflightSettings(timeout=timeout) if timeout else PreflightSettings()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        env = "FLOE_" + "__".join(str(part).upper() for part in first["loc"])
        raise ConfigurationError(
            f"invalid setting {where}: {first['msg']}. Remediation: fix {env} or the [preflight] table of floe-deploy.toml"
        ) from None


def run(
    selected: list[str],
    output: Format,
    timeout: float | None,
    write_probe: bool,
    *,
    warnings_ok: bool = False,
) -> int:
    """Load settings, run, print; the exit code. Shared by the console script and `invoke preflight`."""
    try:
        settings = load(timeout)
    except ConfigurationError as error:
        if output == "json":
            click.echo(
                json.dumps({"error": {"message": str(error), "exit_code": int(ExitCode.USAGE)}})
            )
        else:
            click.echo(f"ERROR: {error}", err=True)
        return int(ExitCode.USAGE)
    report = run_preflight(settings, selected, write_probe=write_probe)
    emit(report, output)
    if warnings_ok and report.exit_code is ExitCode.WARNINGS:
        return int(ExitCode.OK)
    return int(report.exit_code)


def emit(report: Report, output: Format) -> None:
    if output == "json":
        click.echo(as_json(report))
    elif output == "lines":
        click.echo(as_lines(report))
    else:
        width = None if sys.stdout.isatty() else 160
        print_table(report, Console(width=width))


@click.command("floe-preflight", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--check",
    "checks",
    multiple=True,
    type=click.Choice(list(CHECKS)),
    help="Check to run (repeatable).",
)
@click.option("--all", "check_all", is_flag=True, help="Run every check (the default).")
@click.option("--json", "as_json_flag", is_flag=True, help="Same as --format json.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "lines"]),
    default="table",
    show_default=True,
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds each check may take (default 5, FLOE_TIMEOUT).",
)
@click.option("--write-probe", is_flag=True, help="Storage: also put, get and delete one object.")
@click.option(
    "--warnings-ok",
    is_flag=True,
    help="Exit 0 when there are warnings but no errors (the Helm pre-install hook: on a fresh "
    "install the SQL catalog has no tables yet).",
)
def main(
    *,
    checks: tuple[str, ...],
    check_all: bool,
    as_json_flag: bool,
    output: Format,
    timeout: float | None,
    write_probe: bool,
    warnings_ok: bool,
) -> None:
    """Probe compute, storage, catalog, Postgres and the local platform before a deployment.

    Exit codes: 0 all ok, 2 usage or configuration error, 3 at least one error, 4 warnings only.
    """
    selected = list(CHECKS) if check_all or not checks else list(checks)
    sys.exit(
        run(
            selected, "json" if as_json_flag else output, timeout, write_probe,
            warnings_ok=warnings_ok,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()

__all__ = ["ExitCode", "main"]
