"""`floe-preflight`: the checks as a console script (also inside the runtime image, and behind
`invoke preflight`, which passes its options through `run_cli`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console

from floe_preflight.checks import CHECKS
from floe_preflight.config import (
    ConfigurationError,
    load_settings,
    read_sources,
    resolved_settings,
    scrub,
    unknown_environment,
)
from floe_preflight.model import ExitCode, Report
from floe_preflight.runner import Progress, ProgressCallback, run_preflight
from floe_preflight.show import (
    as_json,
    as_line,
    as_lines,
    check_list,
    document,
    error_json,
    print_rows,
    print_table,
    progress,
)

Format = Literal["table", "json", "lines"]
USAGE_HINT = "see --help"


class TimeoutOption(click.ParamType[tuple[str, float], Any]):
    """`SECONDS` for every check, or `CHECK=SECONDS` for one."""

    name = "SECONDS|CHECK=SECONDS"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        check, _, seconds = str(value).rpartition("=")
        if check and check not in CHECKS:
            self.fail(f"{check!r} is not a check (choose from {', '.join(CHECKS)})", param, ctx)
        try:
            return check, float(seconds)
        except ValueError:
            self.fail(f"{value!r} is not SECONDS or CHECK=SECONDS", param, ctx)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160)


@click.command("floe-preflight", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--check", "checks", multiple=True, type=click.Choice(list(CHECKS)),
    help="Check to run (repeatable); a named check that is not configured is an error.",
)  # fmt: skip
@click.option("--all", "check_all", is_flag=True, help="Run every check (the default).")
@click.option("--json", "as_json_flag", is_flag=True, help="Same as --format json.")
@click.option(
    "--format", "output", type=click.Choice(["table", "json", "lines"]), default="table",
    show_default=True, help="lines: one `[SERVICE] STATUS: message. Remediation: …` line per check, as each ends.",
)  # fmt: skip
@click.option(
    "--timeout", "timeouts", multiple=True, type=TimeoutOption(),
    help="Seconds a check may talk to its service (default 5, FLOE_TIMEOUT); CHECK=SECONDS for one "
    "check (FLOE_TIMEOUTS__<CHECK>). Loading the client does not count.",
)  # fmt: skip
@click.option("--write-probe", is_flag=True, help="Storage: also put, get and delete one object.")
@click.option(
    "--strict", is_flag=True,
    help="A check that could not run (not configured, prerequisite failed) is an error, not a skip.",
)  # fmt: skip
@click.option(
    "--warnings-ok", is_flag=True,
    help="Exit 0 when there are warnings but no errors or skips (the Helm hook: on a fresh install "
    "the SQL catalog has no tables yet).",
)  # fmt: skip
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False),
    help="The TOML file whose [preflight] table is read (default: ./floe-deploy.toml, if present).",
)  # fmt: skip
@click.option(
    "--show-config", is_flag=True, help="Print every setting, its value and source; run nothing."
)
@click.option(
    "--list", "list_checks", is_flag=True, help="List the checks and what they need; run nothing."
)
def command(
    *,
    checks: tuple[str, ...],
    check_all: bool,
    as_json_flag: bool,
    output: Format,
    timeouts: tuple[tuple[str, float], ...],
    write_probe: bool,
    strict: bool,
    warnings_ok: bool,
    config: Path | None,
    show_config: bool,
    list_checks: bool,
) -> int:
    """Probe compute, storage, catalog, Postgres and the local platform before a deployment.

    Settings: --config's [preflight] table, FLOE_* variables (FLOE_POSTGRES__HOST, …) and
    POLARIS_CLIENT_ID/SECRET, POSTGRES_PASSWORD, AWS_* ; --show-config says which won.

    Exit codes: 0 all ok, 2 usage or configuration error, 3 at least one error, 4 warnings only,
    5 a check was skipped (--strict makes that an error).
    """
    output = "json" if as_json_flag else output
    flags: dict[str, Any] = {}
    if plain := [seconds for check, seconds in timeouts if not check]:
        flags["timeout"] = plain[-1]
    if per_check := {check: seconds for check, seconds in timeouts if check}:
        flags["timeouts"] = per_check
    try:
        sources = read_sources(config, flags)
        settings = load_settings(sources)
    except ConfigurationError as error:
        return _usage_error(str(error), error.setting, output == "json")
    if list_checks:
        return _print_rows(check_list(), "checks", "checks", output)
    if show_config:
        return _print_rows(resolved_settings(settings, sources), "settings", "settings", output)
    notices = unknown_environment(os.environ)
    selected = list(CHECKS) if check_all or not checks else list(checks)
    explicit = bool(checks) and not check_all
    if output == "lines":
        for notice in notices:
            click.echo(f"[NOTICE] {notice}")
        report = run_preflight(
            settings, selected, write_probe=write_probe, explicit=explicit, strict=strict,
            on_progress=_stream_lines,
        )  # fmt: skip
        return int(report.exit_code(warnings_ok=warnings_ok))
    with progress(Console(stderr=True)) as on_progress:
        report = run_preflight(
            settings, selected, write_probe=write_probe, explicit=explicit, strict=strict,
            on_progress=on_progress,
        )  # fmt: skip
    report.notices = notices
    code = report.exit_code(warnings_ok=warnings_ok)
    _emit(report, output, code)
    return int(code)


def _stream_lines(event: Progress) -> None:
    if event.state == "done" and event.result is not None:
        click.echo(as_line(event.result))


def _print_rows(rows: list[dict[str, Any]], key: str, title: str, output: Format) -> int:
    if output == "json":
        click.echo(document({key: rows}))
    elif output == "lines":
        click.echo("\n".join(" ".join(f"{k}={v}" for k, v in row.items()) for row in rows))
    else:
        print_rows(rows, title, _console())
    return int(ExitCode.OK)


def _emit(report: Report, output: Format, code: ExitCode) -> None:
    if output == "json":
        click.echo(as_json(report, code))
    elif output == "lines":
        click.echo(as_lines(report))
    else:
        print_table(report, _console())


def _usage_error(message: str, setting: str, as_json_flag: bool) -> int:
    message = scrub(message, [])
    if as_json_flag:
        click.echo(error_json(message, setting, ExitCode.USAGE))
    else:
        fix = f"fix {setting}" if setting else USAGE_HINT
        click.echo(f"ERROR: {message.rstrip('.')}. Remediation: {fix}.", err=True)
    return int(ExitCode.USAGE)


def _wants_json(args: Sequence[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--json" in args or "--format=json" in args or ("--format", "json") in pairs


def run_cli(argv: Sequence[str] | None = None, *, prog_name: str = "floe-preflight") -> int:
    """Parse, run and print; the exit code. Usage errors are one line (or JSON under --json),
    exit 2; anything unexpected is one line too, exit 3."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(command.main(args, prog_name=prog_name, standalone_mode=False) or 0)
    except click.ClickException as error:
        message = f"{prog_name}: {error.format_message()}"
        if isinstance(error, click.NoSuchOption) and error.option_name.startswith("--check-"):
            check = error.option_name.removeprefix("--check-")  # the design research's spelling
            message = (
                f"{prog_name}: no option {error.option_name}; name a check with `--check {check}`"
            )
        return _usage_error(message, "", _wants_json(args))
    except click.Abort:
        return 130
    except Exception as error:  # one line, never a traceback, whatever the input
        message = f"{prog_name}: unexpected {type(error).__name__}: {str(error).strip()[:200]}"
        message = scrub(message.splitlines()[0], [])
        if _wants_json(args):
            click.echo(error_json(message, "", ExitCode.ERROR))
        else:
            click.echo(f"ERROR: {message}", err=True)
        return int(ExitCode.ERROR)


def main() -> None:
    sys.exit(run_cli())


if __name__ == "__main__":
    main()

__all__ = ["ExitCode", "ProgressCallback", "main", "run_cli"]
