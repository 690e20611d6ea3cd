"""The offline bundle: one archive of a release for a site without internet, and its import."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import (
    IDENTITY_HELP,
    IDENTITY_REGEXP_HELP,
    ISSUER_HELP,
    JSON_HELP,
    VERIFY_KEY_HELP,
)


@task(
    help={
        "release": "release record to export (the release.json `invoke publish --json` wrote); "
        "it then points at the bundle",
        "registry": "without --release: the registry host:port the release is in (default FLOE_REGISTRY)",
        "prefix": "without --release: the images' prefix (default FLOE_IMAGE_PREFIX)",
        "version": "without --release: the release version X.Y.Z",
        "output": "archive to write (default build/bundle/floe-bundle-<version>.tar)",
        "chart": "chart directory whose charts/ holds the chart's dependency when the registry's "
        "chart mirror does not (default helm/floe-dagster)",
        "json": JSON_HELP,
    }
)
@reports_errors
def export(
    c: Context,
    release: str | None = None,
    registry: str | None = None,
    prefix: str | None = None,
    version: str | None = None,
    output: str | None = None,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Write one release as one archive (an OCI image layout): every image for every platform,
    the chart and its dependency, signatures, SBOM and provenance attestations, and
    floe-bundle.json with the checksum of every file. The source login is `docker login`'s,
    its CA FLOE_REGISTRY_CA."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.errors import FloeError
    from floe_deploy.helm.chart import CHART_DIR
    from floe_deploy.oci import OciClient
    from floe_deploy.paths import BUILD_DIR
    from floe_deploy.release.bundle import export_bundle, load_record, record_from_registry
    from floe_deploy.release.show import show_bundle_export
    from floe_deploy.settings import load_settings

    settings = load_settings(registry=registry, image_prefix=prefix)
    oci = OciClient.from_settings(settings)
    if release:
        record = load_record(Path(release))
    elif version:
        record = record_from_registry(settings, version, oci)
    else:
        raise FloeError("nothing to export", "pass --release release.json, or --version X.Y.Z")
    archive = Path(output) if output else BUILD_DIR / "bundle" / f"floe-bundle-{record.version}.tar"
    console = Console(json_mode=json)
    report = export_bundle(settings, record, archive, console,
                           record_path=Path(release) if release else None,
                           chart_dir=Path(chart) if chart else CHART_DIR, oci=oci)  # fmt: skip
    show_bundle_export(console, report)
    return 0


@task(
    name="import",
    positional=["archive"],
    help={
        "archive": "the bundle `bundle.export` wrote",
        "to": "target REGISTRY[/PREFIX] (required); log in first with `docker login`, its CA "
        "in FLOE_REGISTRY_CA",
        "key": VERIFY_KEY_HELP,
        "certificate_identity": IDENTITY_HELP,
        "identity_regexp": IDENTITY_REGEXP_HELP,
        "certificate_oidc_issuer": ISSUER_HELP,
        "json": JSON_HELP,
    },
)
@reports_errors
def import_(
    c: Context,
    archive: str,
    to: str = "",
    key: str | None = None,
    certificate_identity: str | None = None,
    identity_regexp: bool = False,
    certificate_oidc_issuer: str | None = None,
    json: bool = False,
) -> int:
    """Check every checksum, then every signature and attestation (as images.verify takes them),
    and only then push the bundle into REGISTRY[/PREFIX]: images keep their digests, charts
    land under charts/ (exit 3 when anything fails to verify; nothing is pushed then)."""
    from pathlib import Path

    from floe_deploy.console import Console
    from floe_deploy.errors import FloeError
    from floe_deploy.images.signing import Verifier
    from floe_deploy.release.bundle import import_bundle
    from floe_deploy.release.show import show_bundle_import
    from floe_deploy.settings import load_settings

    if not to:
        raise FloeError("--to is required", "pass --to REGISTRY[/PREFIX] of the target registry")
    settings = load_settings()
    verifier = Verifier.choose(
        settings, Path(key) if key else None, certificate_identity, certificate_oidc_issuer,
        identity_regexp=identity_regexp,
    )  # fmt: skip
    console = Console(json_mode=json)
    show_bundle_import(console, import_bundle(settings, Path(archive), to, verifier, console))
    return 0
