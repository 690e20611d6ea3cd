"""Images: the golden base, multi-arch builds, publish with SBOM and signature, inspect, mirror."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors

JSON_HELP = "print the result as JSON (errors too)"
PLATFORM_HELP = "comma-separated platforms (default linux/amd64,linux/arm64, or FLOE_PLATFORMS)"
CA_HELP = "CA bundle passed to builds as a secret (default: the host's bundle)"


@task(help={"platform": PLATFORM_HELP, "json": JSON_HELP})
@reports_errors
def base(c: Context, platform: str | None = None, json: bool = False) -> int:
    """Build the golden base floe/python-base from Debian packages (debootstrap), per platform."""
    from floe_deploy.console import Console
    from floe_deploy.images.build import build_images, plan_build
    from floe_deploy.images.render import show_build
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings(platforms=platform)
    show_build(console, build_images(settings, plan_build(settings, ["python-base"]), console))
    return 0


@task(
    iterable=["image"],
    help={
        "image": "image to build (repeatable; default: every image in the catalog)",
        "platform": PLATFORM_HELP,
        "tag": "tag to build (default: the version from git)",
        "push": "also push the per-platform tags to the registry (FLOE_REGISTRY)",
        "ca_bundle": CA_HELP,
        "dry_run": "print the plan and stop",
        "json": JSON_HELP,
    },
)
@reports_errors
def build(
    c: Context,
    image: list[str] | None = None,
    platform: str | None = None,
    tag: str | None = None,
    push: bool = False,
    ca_bundle: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> int:
    """Build images with buildx, one platform at a time, into per-platform tags (`--push` to push them)."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.images.build import build_images, plan_build
    from floe_deploy.images.publish import push_images
    from floe_deploy.images.render import show_build, show_plan
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings(platforms=platform)
    plan = plan_build(settings, image, tag=tag, ca_bundle=Path(ca_bundle) if ca_bundle else None)
    if dry_run:
        show_plan(console, plan)
        return 0
    report = build_images(settings, plan, console)
    if push:
        report = push_images(settings, report, console)
    show_build(console, report)
    return 0
