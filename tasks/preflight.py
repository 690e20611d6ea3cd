"""`invoke preflight`: the floe-preflight checks from the toolkit."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task


@task(
    iterable=["check"],
    help={
        "check": "compute, storage, catalog, postgres or platform (repeatable; default: all)",
        "all": "run every check (the default)",
        "json": "print the results as JSON",
        "format": "table (default), json or lines ([SERVICE] STATUS: message. Remediation: …)",
        "timeout": "seconds each check may take (default 5)",
        "write_probe": "storage: also put, get and delete one object under the warehouse prefix",
    },
)
def preflight(
    c: Context,
    check: list[str] | None = None,
    all: bool = False,
    json: bool = False,
    format: str = "table",
    timeout: float | None = None,
    write_probe: bool = False,
) -> None:
    """Probe compute, storage, catalog, Postgres and the platform (exit 0 ok, 2 usage, 3 error, 4 warnings)."""
    from invoke.exceptions import Exit

    from floe_preflight.cli import run
    from floe_preflight.runner import CHECKS

    unknown = [name for name in check or [] if name not in CHECKS]
    if unknown:
        print(f"ERROR: unknown check {unknown[0]!r}. Remediation: choose from {', '.join(CHECKS)}")
        raise Exit(code=2)
    selected = list(CHECKS) if all or not check else list(check)
    code = run(selected, "json" if json else format, timeout, write_probe)  # type: ignore[arg-type]
    if code:
        raise Exit(code=code)
