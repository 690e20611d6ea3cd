"""The local container platform: Docker engine, arm64 emulation and a local registry."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import JSON_HELP

REGISTRY_HELP = "host:port of the local registry (default 127.0.0.1:5000, or FLOE_REGISTRY)"
STATE_HELP = "directory for pid files, logs and registry data (default ~/.local/state/floe-deploy)"


@task(
    help={
        "json": JSON_HELP,
        "registry": REGISTRY_HELP,
        "state_dir": STATE_HELP,
        "prune": "then run images.prune, and check free disk after it (build machines)",
    }
)
@reports_errors
def up(
    c: Context,
    json: bool = False,
    registry: str | None = None,
    state_dir: str | None = None,
    prune: bool = False,
) -> int:
    """Start the Docker engine and the local registry when nothing runs them yet."""
    from floe_deploy.console import Console
    from floe_deploy.images.prune import reclaim_step
    from floe_deploy.platform.show import show_start_stop
    from floe_deploy.platform.start_stop import platform_up
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings(registry=registry, state_dir=state_dir)
    result = platform_up(
        settings, console, reclaim=reclaim_step(settings, console) if prune else None
    )
    show_start_stop(console, "platform.up", result)
    return 0


@task(help={"json": JSON_HELP, "registry": REGISTRY_HELP, "state_dir": STATE_HELP})
@reports_errors
def status(
    c: Context, json: bool = False, registry: str | None = None, state_dir: str | None = None
) -> int:
    """Report engine, plugins, builder platforms, arm64 emulation, registry, disk and memory (exit 3 if unhealthy)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.platform.show import show_status
    from floe_deploy.platform.status import platform_status
    from floe_deploy.settings import load_settings

    result = platform_status(load_settings(registry=registry, state_dir=state_dir))
    show_status(Console(json_mode=json), result)
    return int(ExitCode.OK if result.healthy else ExitCode.UNHEALTHY)


@task(help={"json": JSON_HELP, "state_dir": STATE_HELP})
@reports_errors
def down(c: Context, json: bool = False, state_dir: str | None = None) -> int:
    """Stop what platform.up started (never an engine or registry the user runs)."""
    from floe_deploy.console import Console
    from floe_deploy.platform.show import show_start_stop
    from floe_deploy.platform.start_stop import platform_down
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    result = platform_down(load_settings(state_dir=state_dir), console)
    show_start_stop(console, "platform.down", result)
    return 0
