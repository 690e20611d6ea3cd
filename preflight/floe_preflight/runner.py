"""Running the selected checks concurrently, each with its own timeout, in prerequisite order.

A check starts as soon as its prerequisites have finished; when one of them did not end ok,
the check is reported skipped with the reason instead of being run. Total time is about the
slowest chain of checks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from floe_preflight.checks import (
    Outcome,
    check_catalog,
    check_compute,
    check_platform,
    check_postgres,
    check_storage,
)
from floe_preflight.config import PreflightSettings
from floe_preflight.failures import REMEDIATIONS, CheckFailure, Kind
from floe_preflight.model import CheckResult, Report, Status

WARNING_KINDS = {Kind.CATALOG_TABLES_MISSING}
GRACE_S = 0.5
"""How long past its timeout the runner waits for a check that ignored its client timeout."""


@dataclass(frozen=True)
class CheckSpec:
    name: str
    kind_of: Callable[[PreflightSettings], str]
    missing_setting: Callable[[PreflightSettings], str | None]
    prerequisites: tuple[str, ...]
    run: Callable[[PreflightSettings, bool], Outcome]


def _catalog_missing(settings: PreflightSettings) -> str | None:
    catalog = settings.catalog
    if catalog.type == "rest":
        for value, name in (
            (catalog.uri, "FLOE_CATALOG__URI"),
            (catalog.warehouse, "FLOE_CATALOG__WAREHOUSE"),
            (catalog.client_id, "POLARIS_CLIENT_ID"),
        ):
            if not value:
                return name
        return None
    return None if catalog.uri else "FLOE_CATALOG__URI"


CHECKS: dict[str, CheckSpec] = {
    "compute": CheckSpec(
        "compute", lambda s: s.compute.type,
        lambda s: "FLOE_COMPUTE__HOST" if s.compute.type == "trino" and not s.compute.host else None,
        (), lambda s, _: check_compute(s),
    ),
    "storage": CheckSpec(
        "storage", lambda s: s.storage.type,
        lambda s: None if s.storage.bucket else "FLOE_STORAGE__BUCKET",
        (), check_storage,
    ),
    "catalog": CheckSpec("catalog", lambda s: s.catalog.type, _catalog_missing, ("storage",), lambda s, _: check_catalog(s)),
    "postgres": CheckSpec(
        "postgres", lambda s: "postgresql",
        lambda s: None if s.postgres.host else "FLOE_POSTGRES__HOST",
        (), lambda s, _: check_postgres(s),
    ),
    "platform": CheckSpec("platform", lambda s: "docker", lambda s: None, (), lambda s, _: check_platform(s)),
}  # fmt: skip


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _result(
    spec: CheckSpec,
    settings: PreflightSettings,
    outcome: Outcome | CheckFailure | BaseException,
    started: float,
) -> CheckResult:
    if isinstance(outcome, CheckFailure):
        status = Status.WARNING if outcome.kind in WARNING_KINDS else Status.ERROR
        message, remediation = outcome.message, outcome.remediation()
    elif isinstance(outcome, BaseException):
        status = Status.ERROR
        message = f"{type(outcome).__name__}: {outcome}".splitlines()[0]
        remediation = REMEDIATIONS[Kind.UNEXPECTED]
    else:
        status, message = outcome
        remediation = None
    secrets = settings.secrets()
    return CheckResult(
        service=spec.name,
        type=spec.kind_of(settings),
        status=status,
        message=_scrub(message, secrets) or "",
        remediation=_scrub(remediation, secrets),
        duration_ms=round((time.monotonic() - started) * 1000),
    )


def run_preflight(
    settings: PreflightSettings, selected: list[str], *, write_probe: bool = False
) -> Report:
    """Run the selected checks; unselected prerequisites are not required."""
    pending = [CHECKS[name] for name in CHECKS if name in selected]
    results: dict[str, CheckResult] = {}
    finished: queue.Queue[tuple[str, Outcome | BaseException, float]] = queue.Queue()
    running: dict[str, float] = {}

    def work(spec: CheckSpec, started: float) -> None:
        try:
            outcome: Outcome | BaseException = spec.run(settings, write_probe)
        except BaseException as error:  # reported as the check's result, never raised
            outcome = error
        finished.put((spec.name, outcome, started))

    while pending or running:
        for spec in list(pending):
            prerequisites = [p for p in spec.prerequisites if p in selected]
            if any(p not in results for p in prerequisites):
                continue
            pending.remove(spec)
            started = time.monotonic()
            failed = [p for p in prerequisites if results[p].status is not Status.OK]
            missing = spec.missing_setting(settings)
            if failed:
                results[spec.name] = CheckResult(
                    service=spec.name, type=spec.kind_of(settings), status=Status.SKIPPED,
                    message=f"prerequisite {', '.join(failed)} did not pass",
                    remediation=f"Fix {', '.join(failed)} first.",
                )  # fmt: skip
            elif missing:
                results[spec.name] = CheckResult(
                    service=spec.name, type=spec.kind_of(settings), status=Status.SKIPPED,
                    message=f"not configured ({missing} is not set)",
                    remediation=REMEDIATIONS[Kind.NOT_CONFIGURED].format(setting=missing, service=spec.name),
                )  # fmt: skip
            else:
                running[spec.name] = started
                threading.Thread(
                    target=work, args=(spec, started), daemon=True, name=f"preflight-{spec.name}"
                ).start()
        if not running:
            continue
        deadline = min(running.values()) + settings.timeout + GRACE_S
        try:
            name, outcome, started = finished.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            name = min(running, key=running.__getitem__)
            started = running[name]
            outcome = CheckFailure(
                Kind.TIMEOUT, f"no answer within {settings.timeout:g} s", endpoint=name
            )
        if name not in running:
            continue
        del running[name]
        results[name] = _result(CHECKS[name], settings, outcome, started)
    return Report(results=[results[name] for name in CHECKS if name in results])
