"""GitOps: validate the Argo CD and Flux examples, promote releases between environments."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import JSON_HELP

ROOT_HELP = "the gitops directory (default: gitops/ of this repository)"


def _root(path: str | None) -> Path:
    from floe_deploy.gitops.manifests import GITOPS_DIR

    return Path(path) if path else GITOPS_DIR


@task(
    help={
        "root": ROOT_HELP,
        "chart": "chart directory to render (default helm/floe-dagster)",
        "manifests_only": "check the manifests and values files, skip rendering the chart (seconds, for pre-commit)",
        "json": JSON_HELP,
    }
)
@reports_errors
def validate(
    c: Context,
    root: str | None = None,
    chart: str | None = None,
    manifests_only: bool = False,
    json: bool = False,
) -> int:
    """Check every manifest (schemas, references, plaintext secrets) and render each environment (exit 3 on failure)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.gitops.show import show_validation
    from floe_deploy.gitops.validate import validate_gitops
    from floe_deploy.helm.chart import CHART_DIR
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    report = validate_gitops(
        load_settings(),
        _root(root),
        Path(chart) if chart else CHART_DIR,
        render=not manifests_only,
    )
    show_validation(console, report)
    return 0 if report.ok else int(ExitCode.UNHEALTHY)


@task(
    help={
        "from_": "environment to promote from (dev, staging); or use --release",
        "release": "a release record from `invoke publish --json` (build/release/VERSION.json): "
        "promote what it published to dev",
        "to": "the next environment (staging, prod)",
        "image_tag": "with --to dev: the new version's image tag; with --rollback: which earlier one",
        "chart_version": "with --to dev: the new version's chart version",
        "commit": "make a branch promote/<env>-<tag> and commit there",
        "dry_run": "print the diff, write nothing",
        "force": "break the lineage, loudly: skip an environment, or promote a version the source never ran",
        "rollback": "go back to the previous version the --to environment ran (or --image-tag TAG from its history)",
        "root": ROOT_HELP,
        "json": JSON_HELP,
    }
)
@reports_errors
def promote(
    c: Context,
    to: str | None = None,
    from_: str | None = None,
    release: str | None = None,
    image_tag: str | None = None,
    chart_version: str | None = None,
    commit: bool = False,
    dry_run: bool = False,
    force: bool = False,
    rollback: bool = False,
    root: str | None = None,
    json: bool = False,
) -> int:
    """Move a version to the next environment (or back with --rollback), pinned by digest, comments kept."""
    from floe_deploy.console import Console
    from floe_deploy.errors import FloeError
    from floe_deploy.gitops.promote import promote as run_promotion
    from floe_deploy.gitops.show import show_promotion
    from floe_deploy.oci import OciClient
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    if not to:
        raise FloeError("nothing to promote to", "pass --to ENVIRONMENT (dev, staging, prod)")
    report = run_promotion(
        from_, to, root=_root(root), image_tag=image_tag, chart_version=chart_version,
        force=force, dry_run=dry_run, commit=commit, release=Path(release) if release else None,
        rollback=rollback,
        registry=None if dry_run else OciClient.from_settings(load_settings()),
    )  # fmt: skip
    show_promotion(console, report)
    return 0


@task(help={"root": ROOT_HELP, "json": JSON_HELP})
@reports_errors
def status(c: Context, root: str | None = None, json: bool = False) -> int:
    """Show what each environment runs: image and chart (tags, digests), the release record, and the commit that promoted it from which environment."""
    from floe_deploy.console import Console
    from floe_deploy.gitops.show import show_status
    from floe_deploy.gitops.status import gitops_status

    show_status(Console(json_mode=json), gitops_status(_root(root)))
    return 0
