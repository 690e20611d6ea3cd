"""Images: the golden base, multi-arch builds, publish with SBOM and signature, inspect, mirror."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import (
    CA_HELP,
    IDENTITY_HELP,
    IDENTITY_REGEXP_HELP,
    ISSUER_HELP,
    JSON_HELP,
    KEYLESS_HELP,
    VERIFY_KEY_HELP,
)

PLATFORM_HELP = "comma-separated platforms (default linux/amd64,linux/arm64, or FLOE_PLATFORMS)"


@task(help={"platform": PLATFORM_HELP, "json": JSON_HELP})
@reports_errors
def base(c: Context, platform: str | None = None, json: bool = False) -> int:
    """Build the golden base floe/python-base from Debian packages (debootstrap), per platform."""
    from floe_deploy.console import Console
    from floe_deploy.images.build import build_images, plan_build
    from floe_deploy.images.show import show_build
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
        "no_cache": "ignore the build cache (the golden base, keyed by its recipe, is still reused)",
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
    no_cache: bool = False,
    json: bool = False,
) -> int:
    """Build images with buildx, one platform at a time, into per-platform tags (`--push` to push them)."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.images.build import build_images, plan_build
    from floe_deploy.images.publish import push_images
    from floe_deploy.images.show import show_build, show_plan
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings(platforms=platform)
    plan = plan_build(
        settings,
        image,
        tag=tag,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        no_cache=no_cache,
    )
    if dry_run:
        show_plan(console, plan)
        return 0
    report = build_images(settings, plan, console)
    if push:
        report = push_images(settings, report, console)
    show_build(console, report)
    return 0


@task(
    iterable=["image"],
    help={
        "registry": "registry host:port to publish to (default FLOE_REGISTRY, 127.0.0.1:5000)",
        "image": "image to publish (repeatable; default: every image)",
        "platform": PLATFORM_HELP,
        "key": "cosign private key (default: a dev key pair in the state dir)",
        "keyless": KEYLESS_HELP,
        "force": "overwrite a release tag that already names other images",
        "ca_bundle": CA_HELP,
        "json": JSON_HELP,
    },
)
@reports_errors
def publish(
    c: Context,
    registry: str | None = None,
    image: list[str] | None = None,
    platform: str | None = None,
    key: str | None = None,
    keyless: bool = False,
    force: bool = False,
    ca_bundle: str | None = None,
    json: bool = False,
) -> int:
    """Build, push per platform, join into a multi-arch manifest list, attach an SBOM and sign."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.images.build import build_images, plan_build
    from floe_deploy.images.publish import publish_images, require_registry
    from floe_deploy.images.show import show_publish
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings(registry=registry, platforms=platform)
    require_registry(settings)
    plan = plan_build(settings, image, ca_bundle=Path(ca_bundle) if ca_bundle else None)
    report = build_images(settings, plan, console)
    key_path = Path(key) if key else None
    show_publish(
        console,
        publish_images(
            settings,
            report,
            version=plan.version,
            key=key_path,
            force=force,
            console=console,
            keyless=keyless,
        ),
    )
    return 0


@task(
    iterable=["image"],
    help={
        "registry": "registry host:port (default FLOE_REGISTRY)",
        "image": "image to verify (repeatable; default: every image)",
        "tag": "tag to verify (default: the version from git)",
        "key": VERIFY_KEY_HELP,
        "certificate_identity": IDENTITY_HELP,
        "identity_regexp": IDENTITY_REGEXP_HELP,
        "certificate_oidc_issuer": ISSUER_HELP,
        "json": JSON_HELP,
    },
)
@reports_errors
def verify(
    c: Context,
    registry: str | None = None,
    image: list[str] | None = None,
    tag: str | None = None,
    key: str | None = None,
    certificate_identity: str | None = None,
    identity_regexp: bool = False,
    certificate_oidc_issuer: str | None = None,
    json: bool = False,
) -> int:
    """Check each published image's signature, its platforms' signed SBOMs and its provenance
    (exit 3 if any fails)."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.images.catalog import CATALOG, image_spec
    from floe_deploy.images.publish import verify_images
    from floe_deploy.images.show import show_verify
    from floe_deploy.images.signing import Verifier
    from floe_deploy.images.versioning import release_version
    from floe_deploy.paths import PROJECT_ROOT
    from floe_deploy.settings import load_settings

    names = [image_spec(name).name for name in image] if image else [spec.name for spec in CATALOG]
    settings = load_settings(registry=registry)
    verifier = Verifier.choose(
        settings, Path(key) if key else None, certificate_identity, certificate_oidc_issuer,
        identity_regexp=identity_regexp,
    )  # fmt: skip
    report = verify_images(settings, names, tag or release_version(PROJECT_ROOT).version, verifier)
    show_verify(Console(json_mode=json), report)
    return int(ExitCode.OK if report.ok else ExitCode.UNHEALTHY)


@task(
    positional=["image"],
    help={
        "image": "catalog name (its per-platform tags of this version) or an image reference",
        "platform": PLATFORM_HELP,
        "tag": "tag of a catalog image (default: the version from git)",
        "no_run": "skip checks that start the image",
        "json": JSON_HELP,
    },
)
@reports_errors
def inspect(
    c: Context,
    image: str,
    platform: str | None = None,
    tag: str | None = None,
    no_run: bool = False,
    json: bool = False,
) -> int:
    """Size, layers, user, entrypoint, labels, platforms and the policy checks (exit 3 if one fails)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.images.inspect import inspect_named
    from floe_deploy.images.show import show_inspections
    from floe_deploy.settings import load_settings

    inspections = inspect_named(
        load_settings(platforms=platform), image, tag=tag, run_checks=not no_run
    )
    show_inspections(Console(json_mode=json), inspections)
    return int(ExitCode.OK if all(i.passed for i in inspections) else ExitCode.UNHEALTHY)


@task(help={"to": "mirror registry, e.g. mirror.example:5000 (required)", "json": JSON_HELP})
@reports_errors
def mirror(c: Context, to: str = "", json: bool = False) -> int:
    """Copy every upstream image the project uses to a mirror (exit 2 when upstream is unreachable)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import FloeError
    from floe_deploy.release.mirror import mirror_images
    from floe_deploy.release.show import show_mirror
    from floe_deploy.settings import load_settings

    if not to:
        raise FloeError("--to is required", "pass --to REGISTRY[/PATH] of the mirror")
    console = Console(json_mode=json)
    show_mirror(console, mirror_images(load_settings(), to, console))
    return 0


@task(
    help={
        "dry_run": "list what would go, remove nothing",
        "json": JSON_HELP,
    }
)
@reports_errors
def prune(c: Context, dry_run: bool = False, json: bool = False) -> int:
    """Untag floe's stale images (other dev versions, push tags, old golden bases), remove its
    dangling images and the state dir's SBOMs and wheels no build can use again, and trim the
    build cache to FLOE_BUILD_CACHE_MAX_GB."""
    from floe_deploy.console import Console
    from floe_deploy.images.prune import prune_images
    from floe_deploy.images.show import show_prune
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    show_prune(console, prune_images(load_settings(), console, dry_run=dry_run))
    return 0
