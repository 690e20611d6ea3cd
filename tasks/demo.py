"""The compose demo: the whole platform on this machine, synthetic orders flowing to Cube."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import JSON_HELP


@task(
    iterable=["profile"],
    help={
        "build": "rebuild (hermetic) or re-pull (upstream) the images first",
        "profile": "optional profile: trino, polaris or observability (repeatable; online only)",
        "batch_size": "orders per batch (kept for later `up`s)",
        "interval": "cron schedule of the demo batches, e.g. '*/5 * * * *' (kept for later `up`s)",
        "json": JSON_HELP,
    },
)
@reports_errors
def up(
    c: Context,
    build: bool = False,
    profile: list[str] | None = None,
    batch_size: int | None = None,
    interval: str | None = None,
    json: bool = False,
) -> int:
    """Bring the demo up (or repair it): preflight, images, compose up, first batch, rows in Cube."""
    from floe_deploy.console import Console
    from floe_deploy.demo.operations import up as bring_up
    from floe_deploy.demo.show import show_up
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    report = bring_up(
        load_settings(),
        console,
        build=build,
        profiles=profile,
        batch_size=batch_size,
        interval=interval,
    )
    show_up(console, report)
    return 0


@task(help={"json": JSON_HELP})
@reports_errors
def status(c: Context, json: bool = False) -> int:
    """Services and health, the last demo run, orders in Iceberg, the mart and Cube (exit 3 if unhealthy)."""
    from floe_deploy.console import Console
    from floe_deploy.demo.operations import status as stack_status
    from floe_deploy.demo.show import show_status
    from floe_deploy.errors import ExitCode
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    report = stack_status(load_settings())
    show_status(console, report)
    return 0 if report.healthy else int(ExitCode.UNHEALTHY)


@task(
    help={
        "wait": "wait until the run ends (default) or return once it is queued",
        "json": JSON_HELP,
    }
)
@reports_errors
def trigger(c: Context, wait: bool = True, json: bool = False) -> int:
    """Launch one demo batch now."""
    from floe_deploy.console import Console
    from floe_deploy.demo.operations import trigger as launch
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    run = launch(load_settings(), wait=wait)
    if json:
        console.json(run)
    else:
        console.line(f"run {run.run_id}: {run.status} (batch {run.batch_number})")
    return 0


@task(
    help={
        "service": "(-s) one service (postgres, s3, code-location, webserver, daemon, cube, …); default all",
        "follow": "keep printing new lines until Ctrl-C",
        "tail": "lines per service to start from (default 100)",
    },
)
@reports_errors
def logs(c: Context, service: str | None = None, follow: bool = False, tail: int = 100) -> int:
    """Print the stack's logs: all services, or one with -s SERVICE (Invoke has no optional positionals)."""
    from floe_deploy.demo.logs import print_logs
    from floe_deploy.settings import load_settings

    print_logs(load_settings(), service, follow=follow, tail=tail)
    return 0


@task(help={"json": JSON_HELP})
@reports_errors
def credentials(c: Context, json: bool = False) -> int:
    """Show the demo's generated credentials (the only task that prints them)."""
    from floe_deploy.console import Console
    from floe_deploy.demo.show import show_credentials
    from floe_deploy.demo.stack import DemoStack
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    show_credentials(console, DemoStack(load_settings()).credentials(create=False))
    return 0


@task(help={"volumes": "also remove the data volumes (Postgres, S3)", "json": JSON_HELP})
@reports_errors
def down(c: Context, volumes: bool = False, json: bool = False) -> int:
    """Remove the demo's containers and network; data volumes stay unless --volumes."""
    from floe_deploy.console import Console
    from floe_deploy.demo.operations import down as take_down
    from floe_deploy.demo.show import show_down
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    show_down(console, take_down(load_settings(), volumes=volumes))
    return 0
