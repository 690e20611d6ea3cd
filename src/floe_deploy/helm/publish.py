"""helm.package, helm.publish and helm.verify: the chart as a versioned archive in an OCI registry,
signed by digest with cosign like the images."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import helm_python
from pydantic import BaseModel

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.artifact import push_chart_archive
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, require_dependencies
from floe_deploy.helm.dependencies import oci_host
from floe_deploy.images.signing import Signer, Verifier, sign, verify_signature
from floe_deploy.images.versioning import release_version
from floe_deploy.oci import OciClient
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.settings import Settings

PACKAGE_DIR = BUILD_DIR / "charts"


class PackagedChart(BaseModel):
    name: str
    version: str
    app_version: str
    archive: str
    digest: str


class PublishedChart(BaseModel):
    name: str
    version: str
    reference: str
    digest: str
    signed: bool

    @classmethod
    def of(cls, packaged: PackagedChart, reference: str, digest: str) -> PublishedChart:
        """A signed chart in the registry: `packaged`, now at `reference` with `digest`."""
        return cls(
            name=packaged.name,
            version=packaged.version,
            reference=reference,
            digest=digest,
            signed=True,
        )


class VerifiedChart(BaseModel):
    reference: str
    digest: str | None
    signature_ok: bool
    detail: str


def package_chart(
    chart_dir: Path = CHART_DIR, destination: Path = PACKAGE_DIR, version: str | None = None
) -> PackagedChart:
    """Package with version and appVersion from git (or `version`), dependencies included."""
    require_dependencies(chart_dir)
    chosen = version or release_version(PROJECT_ROOT).version
    destination.mkdir(parents=True, exist_ok=True)
    try:
        archive = helm_python.package(
            str(chart_dir), destination=str(destination), version=chosen, app_version=chosen
        )
    except helm_python.HelmError as error:
        raise FloeError(f"packaging failed: {error}", "run `invoke helm.lint`") from None
    name = str(chart_metadata(chart_dir)["name"])
    return PackagedChart(
        name=name,
        version=chosen,
        app_version=chosen,
        archive=archive,
        digest=helm_python.digest(archive),
    )


def _remote(registry: str) -> str:
    if not registry.startswith("oci://"):
        raise FloeError(
            f"registry {registry!r} is not an oci:// reference",
            "write --registry oci://HOST[:PORT]/charts",
        )
    oci_host(registry)
    return registry.rstrip("/")


def stage_chart(
    settings: Settings,
    registry: str,
    packaged: PackagedChart,
    signer: Signer,
    *,
    force: bool = False,
    oci: OciClient | None = None,
) -> PublishedChart:
    """Push the archive by digest and sign it; the version tag is not moved yet. An existing
    version is refused unless `force`."""
    remote = _remote(registry)
    reference = f"{remote}/{packaged.name}:{packaged.version}"
    oci = oci or OciClient.from_settings(settings)
    if oci.resolve(reference) is not None and not force:
        raise FloeError(
            f"{reference} already exists; a published chart version is never replaced",
            "bump the version (a new commit or tag), or pass --force for a development registry",
        )
    descriptor = push_chart_archive(oci, Path(packaged.archive), f"{remote}/{packaged.name}")
    sign(oci, _digest_reference(reference, descriptor.digest), signer)
    return PublishedChart.of(packaged, reference, descriptor.digest)


def tag_chart(oci: OciClient, chart: PublishedChart) -> None:
    """Give the staged chart its version tag: from now on `helm pull` finds it."""
    oci.tag(_digest_reference(chart.reference, chart.digest), [chart.version])


def publish_chart(
    settings: Settings,
    registry: str,
    packaged: PackagedChart,
    key: Path | None = None,
    *,
    force: bool = False,
    keyless: bool = False,
) -> PublishedChart:
    """Stage and sign the chart, then tag its version."""
    oci = OciClient.from_settings(settings)
    signer = Signer.choose(settings, key, keyless)
    published = stage_chart(settings, registry, packaged, signer, force=force, oci=oci)
    tag_chart(oci, published)
    return published


def _digest_reference(reference: str, digest: str) -> str:
    """`oci://host/charts/name:1.0` + digest → `host/charts/name@sha256:…` (what cosign signs)."""
    return f"{reference.removeprefix('oci://').rsplit(':', 1)[0]}@{digest}"


def verify_chart(settings: Settings, reference: str, verifier: Verifier) -> VerifiedChart:
    """The chart's manifest exists and carries a valid cosign signature."""
    if verifier.public_key is not None and verifier.identity is not None:
        raise FloeError(
            "a chart carries no provenance, so with --key there is no builder to match "
            "--certificate-identity against",
            "verify the chart with --key alone, or keyless with --certificate-identity and "
            "--certificate-oidc-issuer",
        )
    if not reference.startswith("oci://") or ":" not in reference.rsplit("/", 1)[-1]:
        raise FloeError(
            f"{reference!r} is not oci://HOST/PATH/CHART:VERSION", "name the chart with its version"
        )
    oci = OciClient.from_settings(settings)
    descriptor = oci.resolve(reference)
    if descriptor is None:
        return VerifiedChart(
            reference=reference, digest=None, signature_ok=False, detail="not in the registry"
        )
    digest = descriptor.digest
    ok, detail = verify_signature(oci, _digest_reference(reference, digest), verifier)
    return VerifiedChart(reference=reference, digest=digest, signature_ok=ok, detail=detail)


def lint_chart(
    chart_dir: Path = CHART_DIR, values: dict[str, object] | None = None
) -> dict[str, object]:
    """`helm lint --strict` through the SDK, on a copy with the symlinked files resolved."""
    with tempfile.TemporaryDirectory(prefix="floe-helm-lint-") as scratch:
        copy = Path(scratch) / chart_dir.name
        shutil.copytree(chart_dir, copy)
        try:
            return helm_python.lint(str(copy), values or {}, strict=True, with_subcharts=False)
        except helm_python.HelmError as error:
            raise FloeError(
                f"lint failed: {error}", "fix the chart", exit_code=ExitCode.FAILURE
            ) from None
