"""Running the selected checks concurrently, each with its own timeout, in prerequisite order.

A check starts as soon as its prerequisites have finished; when one of them did not end ok,
the check is reported skipped with the reason instead of being run. Each check's clock starts
when its client is ready (see checks.spec.Probe), so loading a library never counts as the
service being slow; at its timeout the runner stops waiting, whatever the client library does.
Total time is about the slowest chain of checks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from floe_preflight.checks import CHECKS
from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.config import PreflightSettings, scrub
from floe_preflight.failures import CheckFailure, Kind, docs_anchor
from floe_preflight.model import CheckResult, Report, Status

WARNING_KINDS = {Kind.CATALOG_TABLES_MISSING}
PREPARE_LIMIT_S = 60.0
"""How long loading a client library may take before the check is reported stuck."""

Settings = PreflightSettings


@dataclass(frozen=True)
class Progress:
    """What the runner tells a progress display: a check was launched, began probing, or ended."""

    check: str
    state: Literal["loading", "probing", "done"]
    result: CheckResult | None = None


ProgressCallback = Callable[[Progress], None]


def _endpoint(spec: CheckSpec, settings: Settings) -> str:
    try:
        return spec.endpoint(settings)
    except Exception:  # a setting the check itself reports as invalid
        return ""


def _result(
    spec: CheckSpec,
    settings: Settings,
    outcome: Outcome | BaseException,
    import_ms: int,
    duration_ms: int,
) -> CheckResult:
    kind: Kind | None = None
    setting: str | None = None
    endpoint = _endpoint(spec, settings)
    if isinstance(outcome, CheckFailure):
        kind = outcome.kind
        status = Status.WARNING if kind in WARNING_KINDS else Status.ERROR
        message, remediation = outcome.message, outcome.remediation()
        endpoint, setting = outcome.endpoint or endpoint, outcome.setting or None
    elif isinstance(outcome, BaseException):
        kind, status = Kind.UNEXPECTED, Status.ERROR
        message = f"{type(outcome).__name__}: {outcome}".splitlines()[0]
        remediation = CheckFailure(kind, message, service=spec.name).remediation()
    else:
        status, message = outcome
        remediation = None
    secrets = settings.secrets()
    return CheckResult(
        service=spec.name, type=spec.type_of(settings), status=status,
        message=scrub(message, secrets), remediation=scrub(remediation, secrets) if remediation else None,
        kind=kind.value if kind else None, endpoint=scrub(endpoint, secrets) or None, setting=setting,
        docs=docs_anchor(kind) if kind else None, import_ms=import_ms, duration_ms=duration_ms,
    )  # fmt: skip


def _not_run(
    spec: CheckSpec, settings: Settings, failure: CheckFailure, *, error: bool
) -> CheckResult:
    return CheckResult(
        service=spec.name, type=spec.type_of(settings), status=Status.ERROR if error else Status.SKIPPED,
        message=failure.message, remediation=failure.remediation(), kind=failure.kind.value,
        setting=failure.setting or None, endpoint=scrub(_endpoint(spec, settings), settings.secrets()) or None,
        docs=docs_anchor(failure.kind),
    )  # fmt: skip


@dataclass
class _Running:
    launched: float
    probing: float | None = None


Event = tuple[str, str, float, Outcome | BaseException | None]


class _Run:
    """One preflight run: launches checks whose prerequisites ended, collects their outcomes.

    Daemon threads and an event queue, not concurrent.futures: a check's deadline starts when its
    probe starts (after its client library loaded), which the check reports mid-run; and a probe
    stuck on a black-holed host must be abandoned at its deadline, whereas an executor's worker
    threads are joined when the interpreter exits, so the process would outlive the timeout.
    """

    def __init__(
        self, settings: Settings, selected: list[str], *, write_probe: bool, explicit: bool,
        strict: bool, on_progress: ProgressCallback | None,
    ) -> None:  # fmt: skip
        self.settings, self.selected, self.write_probe = settings, selected, write_probe
        self.explicit, self.strict = explicit, strict
        self.tell = on_progress or (lambda progress: None)
        self.pending = [CHECKS[name] for name in CHECKS if name in selected]
        self.results: dict[str, CheckResult] = {}
        self.events: queue.Queue[Event] = queue.Queue()
        self.running: dict[str, _Running] = {}

    def report(self) -> Report:
        while self.pending or self.running:
            self._launch_ready()
            if self.running:
                self._handle(self._next_event())
        return Report(results=[self.results[name] for name in CHECKS if name in self.results])

    def _finish(self, name: str, result: CheckResult) -> None:
        self.results[name] = result
        self.tell(Progress(name, "done", result))

    def _launch_ready(self) -> None:
        settings = self.settings
        for spec in list(self.pending):
            prerequisites = [p for p in spec.prerequisites(settings) if p in self.selected]
            if any(p not in self.results for p in prerequisites):
                continue
            self.pending.remove(spec)
            failed = [p for p in prerequisites if self.results[p].status is not Status.OK]
            missing = spec.missing_setting(settings)
            if failed:
                self._finish(spec.name, _not_run(spec, settings, CheckFailure(
                    Kind.PREREQUISITE_FAILED, f"prerequisite {', '.join(failed)} did not pass",
                    resource=", ".join(failed),
                ), error=self.strict))  # fmt: skip
            elif missing:
                self._finish(spec.name, _not_run(spec, settings, CheckFailure(
                    Kind.NOT_CONFIGURED, f"not configured ({missing} is not set)", setting=missing,
                    service=spec.name,
                ), error=self.strict or self.explicit))  # fmt: skip
            else:
                self.running[spec.name] = _Running(time.monotonic())
                self.tell(Progress(spec.name, "loading"))
                threading.Thread(
                    target=self._work, args=(spec,), daemon=True, name=f"preflight-{spec.name}"
                ).start()

    def _work(self, spec: CheckSpec) -> None:
        started = threading.Event()

        def start() -> None:
            if not started.is_set():
                started.set()
                self.events.put(("probing", spec.name, time.monotonic(), None))

        probe = Probe(self.settings, self.settings.timeout_for(spec.name), self.write_probe, start)
        try:
            outcome: Outcome | BaseException = spec.run(probe)
        except BaseException as error:  # reported as the check's result, never raised
            outcome = error
        self.events.put(("done", spec.name, time.monotonic(), outcome))

    def _deadline(self, name: str) -> float:
        state = self.running[name]
        if state.probing is None:
            return state.launched + PREPARE_LIMIT_S
        return state.probing + self.settings.timeout_for(name)

    def _next_event(self) -> Event:
        """The next event, or a timeout for the check whose deadline passed first."""
        first = min(self.running, key=self._deadline)
        try:
            return self.events.get(timeout=max(0.0, self._deadline(first) - time.monotonic()))
        except queue.Empty:
            spec, endpoint = CHECKS[first], _endpoint(CHECKS[first], self.settings)
            seconds = self.settings.timeout_for(first)
            message = (
                f"no answer from {endpoint or first} within {seconds:g} s"
                if self.running[first].probing is not None
                else f"loading the {first} client took longer than {PREPARE_LIMIT_S:g} s"
            )
            failure = CheckFailure(
                Kind.TIMEOUT,
                message,
                setting=spec.endpoint_setting,
                service=first,
                endpoint=endpoint,
            )
            return "done", first, time.monotonic(), failure

    def _handle(self, event: Event) -> None:
        kind, name, at, outcome = event
        state = self.running.get(name)
        if state is None:
            return
        if kind == "probing":
            state.probing = at
            self.tell(Progress(name, "probing"))
            return
        del self.running[name]
        probing = state.probing if state.probing is not None else at
        self._finish(name, _result(
            CHECKS[name], self.settings, outcome or CheckFailure(Kind.UNEXPECTED, "no outcome"),
            import_ms=round((probing - state.launched) * 1000), duration_ms=round((at - probing) * 1000),
        ))  # fmt: skip


def run_preflight(
    settings: Settings,
    selected: list[str],
    *,
    write_probe: bool = False,
    explicit: bool = False,
    strict: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Run the selected checks; unselected prerequisites are not required.

    explicit: the checks were named (`--check`), so one that is not configured is an error.
    strict: every check that could not run is an error (the Helm hook: nothing unproven passes).
    """
    run = _Run(
        settings, selected, write_probe=write_probe, explicit=explicit, strict=strict,
        on_progress=on_progress,
    )  # fmt: skip
    return run.report()
