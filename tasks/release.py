"""The release pipeline's two commands: `invoke build` and `invoke publish`."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import CA_HELP, JSON_HELP, KEYLESS_HELP

VERSION_HELP = "release version X.Y.Z (default: from git: a vX.Y.Z tag on HEAD, else a dev version)"
CHART_HELP = (
    "chart directory to package (default helm/floe-dagster, its charts/ filled by helm.deps)"
)


@task(help={"version": VERSION_HELP, "ca_bundle": CA_HELP, "chart": CHART_HELP, "json": JSON_HELP})
@reports_errors
def build(
    c: Context,
    version: str | None = None,
    ca_bundle: str | None = None,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Build every image for every platform (FLOE_PLATFORMS) and package the chart, at one version."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.helm.chart import CHART_DIR
    from floe_deploy.release.publish import build_release
    from floe_deploy.release.show import show_build_record
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    record = build_release(
        load_settings(),
        console,
        version=version,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        chart_dir=Path(chart) if chart else CHART_DIR,
    )
    show_build_record(console, record)
    return 0


@task(
    help={
        "registry": "registry host:port (default FLOE_REGISTRY); log in first with `docker login`",
        "version": VERSION_HELP,
        "key": "cosign private key (default: a dev key pair in the state dir; COSIGN_PASSWORD)",
        "keyless": KEYLESS_HELP,
        "force": "replace a release that already names other content",
        "ca_bundle": CA_HELP,
        "chart": CHART_HELP,
        "json": JSON_HELP,
    }
)
@reports_errors
def publish(
    c: Context,
    registry: str | None = None,
    version: str | None = None,
    key: str | None = None,
    keyless: bool = False,
    force: bool = False,
    ca_bundle: str | None = None,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Build and publish the release all or nothing: images, manifest lists, SBOMs, provenance,
    signatures and the chart; prints the release record (the input of `gitops.promote --release`)."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.helm.chart import CHART_DIR
    from floe_deploy.release.publish import publish_release
    from floe_deploy.release.show import show_release
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    record = publish_release(
        load_settings(registry=registry),
        console,
        key=Path(key) if key else None,
        keyless=keyless,
        force=force,
        version=version,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        chart_dir=Path(chart) if chart else CHART_DIR,
    )
    show_release(console, record)
    return 0
