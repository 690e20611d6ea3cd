"""`invoke preflight`: the floe-preflight checks from the toolkit (same options, same exit codes)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task


@task(
    iterable=["check", "timeout"],
    auto_shortflags=False,
    help={
        "check": "compute, storage, catalog, postgres or platform (repeatable; default: all); "
        "a named check that is not configured is an error",
        "all": "run every check (the default)",
        "json": "print the results as JSON",
        "format": "table (default), json or lines ([SERVICE] STATUS: message. Remediation: …)",
        "timeout": "SECONDS for every check (default 5) or CHECK=SECONDS for one (repeatable)",
        "write_probe": "storage: also put, get and delete one object under the warehouse prefix",
        "strict": "a check that could not run is an error, not a skip",
        "warnings_ok": "exit 0 on warnings without errors or skips",
        "config": "the TOML file whose [preflight] table is read (default ./floe-deploy.toml)",
        "show_config": "print every setting, its value and where it came from; run nothing",
        "list": "list the checks and what they need; run nothing",
    },
)
def preflight(
    c: Context,
    check: list[str] | None = None,
    all: bool = False,
    json: bool = False,
    format: str | None = None,
    timeout: list[str] | None = None,
    write_probe: bool = False,
    strict: bool = False,
    warnings_ok: bool = False,
    config: str | None = None,
    show_config: bool = False,
    list_: bool = False,
) -> None:
    """Probe compute, storage, catalog, Postgres and the platform (exit 0 ok, 2 usage, 3 error, 4 warnings, 5 skipped)."""
    from invoke.exceptions import Exit

    from floe_preflight.cli import run_cli

    options = {
        "--all": all, "--json": json, "--write-probe": write_probe, "--strict": strict,
        "--warnings-ok": warnings_ok, "--show-config": show_config, "--list": list_,
    }  # fmt: skip
    argv = [flag for flag, given in options.items() if given]
    argv += [arg for name in check or [] for arg in ("--check", name)]
    argv += [arg for seconds in timeout or [] for arg in ("--timeout", seconds)]
    argv += ["--format", format] if format is not None else []
    argv += ["--config", config] if config is not None else []
    code = run_cli(argv, prog_name="invoke preflight")
    if code:
        raise Exit(code=code)
