"""What a check declares (CheckSpec) and what it is given when it runs (Probe).

A probe first loads its client library and builds its client, then calls `probe.start()`: the
check's timeout covers only what follows, talking to the service. Every client gets that
timeout, so a host that accepts and never answers costs at most the timeout (the runner also
stops waiting then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from floe_preflight.config import PreflightSettings
from floe_preflight.model import Status

Outcome = tuple[Status, str]
"""What a probe returns when it does not raise CheckFailure: its status and message."""


@dataclass
class Probe:
    """What a check gets: the settings, its own timeout, and the clock it starts once its client
    is ready (importing boto3 takes seconds on a small machine; that is not the service's time)."""

    settings: PreflightSettings
    timeout: float
    write_probe: bool = False
    start: Callable[[], None] = lambda: None


def nothing_missing(settings: PreflightSettings) -> str | None:
    return None


def no_prerequisites(settings: PreflightSettings) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    """One check as the runner schedules it and as `--list` and the docs describe it.

    The callables take the settings because a check's type, endpoint, missing setting and
    prerequisites all depend on what is configured (a rest catalog needs storage, a sql one not).
    """

    name: str
    run: Callable[[Probe], Outcome]
    type_of: Callable[[PreflightSettings], str]
    endpoint: Callable[[PreflightSettings], str]
    endpoint_setting: str
    """The setting a timeout points at: the one that names what did not answer."""
    missing_setting: Callable[[PreflightSettings], str | None] = nothing_missing
    """The first required setting that is unset (the check is then not run), or None."""
    prerequisites: Callable[[PreflightSettings], tuple[str, ...]] = no_prerequisites
    types: str
    probe: str
    needs: str
    after: str = ""
    """The prerequisites, in words (for --list and the docs)."""
