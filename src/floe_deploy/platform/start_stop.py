"""platform.up and platform.down: start what the local platform needs, and stop only that."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.emulation import arm64_emulation_enabled, enable_arm64_emulation
from floe_deploy.platform.engine import engine_address, start_engine, stop_engine
from floe_deploy.platform.registry import start_registry, stop_registry
from floe_deploy.platform.status import free_disk
from floe_deploy.settings import Settings


class Action(StrEnum):
    STARTED = "started"
    ALREADY_RUNNING = "already running"
    STOPPED = "stopped"
    NOT_OURS = "not started by floe-deploy (left alone)"
    UNAVAILABLE = "unavailable"
    PRUNED = "pruned"


class ComponentResult(BaseModel):
    component: str
    action: Action
    detail: str
    seconds: float


class StartStopResult(BaseModel):
    components: list[ComponentResult]


def check_free_disk(settings: Settings) -> None:
    """Refuse to start anything when the state dir's disk is below the configured minimum."""
    path, free_gb = free_disk(settings.state_dir)
    if free_gb < settings.min_free_disk_gb:
        raise FloeError(
            f"only {free_gb:.1f} GB free on {path}, below the {settings.min_free_disk_gb} GB minimum",
            "run `invoke images.prune` (or `invoke platform.up --prune`), free disk space otherwise, "
            "or set FLOE_MIN_FREE_DISK_GB",
        )


def _timed(
    component: str, console: Console, work: Callable[[], tuple[Action, str]]
) -> ComponentResult:
    with console.step(component) as timed:
        action, detail = work()
    return ComponentResult(component=component, action=action, detail=detail, seconds=timed.seconds)


def platform_up(
    settings: Settings, console: Console, *, reclaim: Callable[[], str] | None = None
) -> StartStopResult:
    """Start the engine and the registry (each only if not already answering); all or nothing.

    `reclaim` (from the caller: `images.prune.reclaim_step`) gives disk back once the engine
    answers and says what it freed; the free-disk check then runs after it instead of first. A
    build machine that runs every commit needs that.
    """
    if reclaim is None:
        check_free_disk(settings)
    started: list[Callable[[Settings], bool]] = []

    def engine() -> tuple[Action, str]:
        if start_engine(settings):
            started.append(stop_engine)
            return (
                Action.STARTED,
                f"dockerd on {engine_address(settings)}, log {settings.state_dir / 'dockerd.log'}",
            )
        return Action.ALREADY_RUNNING, engine_address(settings)

    def emulation() -> tuple[Action, str]:
        if enable_arm64_emulation():
            return Action.STARTED, "qemu-aarch64 binfmt handler enabled"
        if arm64_emulation_enabled():
            return Action.ALREADY_RUNNING, "qemu-aarch64 binfmt handler"
        return Action.UNAVAILABLE, "QEMU not installed: run scripts/bootstrap for arm64 builds"

    def registry() -> tuple[Action, str]:
        if start_registry(settings):
            started.append(stop_registry)
            data = Path(settings.state_dir) / "registry" / "data"
            return Action.STARTED, f"{settings.registry}, data in {data}"
        return Action.ALREADY_RUNNING, settings.registry

    def reclaimed() -> tuple[Action, str]:
        assert reclaim is not None
        detail = reclaim()
        check_free_disk(settings)
        return Action.PRUNED, detail

    steps = [("docker engine", engine), ("arm64 emulation", emulation), ("registry", registry)]
    components = []
    try:
        for name, work in steps + ([("stale floe images", reclaimed)] if reclaim else []):
            components.append(_timed(name, console, work))
    except FloeError:
        for stop in reversed(started):
            stop(settings)
        raise
    return StartStopResult(components=components)


def platform_down(settings: Settings, console: Console) -> StartStopResult:
    """Stop the registry and the engine, but only those platform.up started (pid files)."""

    def stopper(stop: Callable[[Settings], bool]) -> Callable[[], tuple[Action, str]]:
        def work() -> tuple[Action, str]:
            return (Action.STOPPED, "") if stop(settings) else (Action.NOT_OURS, "")

        return work

    return StartStopResult(
        components=[
            _timed("registry", console, stopper(stop_registry)),
            _timed("docker engine", console, stopper(stop_engine)),
        ]
    )
