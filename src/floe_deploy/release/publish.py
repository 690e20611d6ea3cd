"""`invoke build` and `invoke publish`: a release as one unit, every image for every platform and the chart.

publish stages everything by digest first (per-platform images, manifest lists, SBOMs, provenance,
signatures, the chart and its signature) and moves the release tags only at the end, images
first and the chart last; so no tag of the release is visible until everything it names is in the
registry, and a re-run after a failure pushes what is missing and then tags. The release record
it returns (and writes to build/release/<version>.json) is what `gitops.promote --release` reads.

Every input that can be checked is checked before the first image is built (an hour of QEMU
builds must not end in a missing chart dependency): the chart is packaged first (its dependency
present), the registry answers with push rights under the images' prefix, the signing material
works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, require_dependencies
from floe_deploy.helm.publish import (
    PackagedChart,
    PublishedChart,
    package_chart,
    stage_chart,
    tag_chart,
)
from floe_deploy.images.build import BuildReport, build_images, plan_build
from floe_deploy.images.catalog import CATALOG
from floe_deploy.images.publish import (
    PublishReport,
    repository,
    require_push_rights,
    require_registry,
    stage_images,
    tag_images,
)
from floe_deploy.images.signing import Signer
from floe_deploy.images.versioning import ReleaseVersion, declared_version, release_version
from floe_deploy.oci import OciClient
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.settings import Settings

RECORD_DIR = BUILD_DIR / "release"
RECORD_SCHEMA_VERSION = 3
"""2: SBOMs are signed attestations per platform (`sboms`), the chart lives under the images' prefix.
3: an optional `bundle`, the offline archive `bundle.export` wrote of this release."""


class ReleasedImage(BaseModel):
    image: str
    repository: str
    digest: str
    platforms: dict[str, str]
    sboms: dict[str, str]
    """platform → cosign's attestation tag on that platform's image (SBOM and provenance)"""
    signature: str
    provenance: str


class ReleasedChart(BaseModel):
    reference: str
    version: str
    digest: str
    signature: str


class BundleRef(BaseModel):
    """The offline bundle of a release (`invoke bundle.export`) and the sha256 of its archive."""

    path: str
    sha256: str
    size_bytes: int


class ReleaseRecord(BaseModel):
    """What was published, by digest: the input of the next pipeline step."""

    schema_version: int = RECORD_SCHEMA_VERSION
    version: str
    tags: list[str]
    git_commit: str
    registry: str
    images: list[ReleasedImage]
    chart: ReleasedChart
    published_at: str
    bundle: BundleRef | None = None


class BuildRecord(BaseModel):
    version: str
    git_commit: str
    images: BuildReport
    chart: PackagedChart


def chart_registry(settings: Settings) -> str:
    """Charts live beside the images, under their prefix (`<owner>/floe` on GHCR): registries
    like GHCR and GitLab's accept pushes only under the owner's namespace."""
    return f"oci://{settings.registry}/{settings.image_prefix}/charts"


def _version(declared: str | None) -> ReleaseVersion:
    return declared_version(declared, PROJECT_ROOT) if declared else release_version(PROJECT_ROOT)


def build_release(
    settings: Settings,
    console: Console,
    *,
    version: str | None = None,
    ca_bundle: Path | None = None,
    chart_dir: Path = CHART_DIR,
) -> BuildRecord:
    """The chart package, then every image for every configured platform, at one version: the
    chart first, so a missing dependency fails in seconds, not after the builds."""
    chosen = _version(version)
    with console.step(f"package chart {chosen.version}"):
        chart = package_chart(chart_dir, version=chosen.version)
    plan = plan_build(settings, None, ca_bundle=ca_bundle, version=chosen)
    built = build_images(settings, plan, console)
    return BuildRecord(
        version=chosen.version, git_commit=chosen.revision, images=built, chart=chart
    )


def _cosign_tag(repository: str, digest: str, suffix: str) -> str:
    """cosign keeps signatures and attestations under `sha256-<hex>.<suffix>` tags."""
    return f"{repository}:{digest.replace(':', '-')}.{suffix}"


def _already_released(staged: PublishReport, oci: OciClient) -> bool:
    """Every image's release tag already names what was just staged: this run repeats a release."""
    for entry in staged.images:
        current = oci.resolve(f"{entry.repository}:{entry.tags[0]}")
        if current is None or current.digest != entry.digest:
            return False
    return True


def _existing_chart(oci: OciClient, charts: str, packaged: PackagedChart) -> PublishedChart:
    reference = f"{charts}/{packaged.name}:{packaged.version}"
    descriptor = oci.resolve(reference)
    if descriptor is None:
        raise FloeError(f"{reference} vanished while publishing", "re-run the publish")
    return PublishedChart.of(packaged, reference, descriptor.digest)


def release_record(
    settings: Settings, version: ReleaseVersion, staged: PublishReport, chart: PublishedChart
) -> ReleaseRecord:
    """The record of staged images and a staged chart: every artifact by digest, with cosign's
    signature and attestation tags."""
    return ReleaseRecord(
        version=version.version,
        tags=staged.images[0].tags if staged.images else [version.version],
        git_commit=version.revision,
        registry=settings.registry,
        images=[
            ReleasedImage(
                image=entry.image,
                repository=entry.repository,
                digest=entry.digest,
                platforms=entry.platforms,
                sboms={
                    platform: _cosign_tag(entry.repository, digest, "att")
                    for platform, digest in entry.platforms.items()
                },
                signature=_cosign_tag(entry.repository, entry.digest, "sig"),
                provenance=_cosign_tag(entry.repository, entry.digest, "att"),
            )
            for entry in staged.images
        ],
        chart=ReleasedChart(
            reference=chart.reference,
            version=chart.version,
            digest=chart.digest,
            signature=_cosign_tag(
                chart.reference.removeprefix("oci://").rsplit(":", 1)[0], chart.digest, "sig"
            ),
        ),
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def publish_release(
    settings: Settings,
    console: Console,
    *,
    key: Path | None = None,
    keyless: bool = False,
    force: bool = False,
    version: str | None = None,
    ca_bundle: Path | None = None,
    chart_dir: Path = CHART_DIR,
    record_dir: Path = RECORD_DIR,
) -> ReleaseRecord:
    """Check the inputs, build, stage every artifact by digest, then tag; returns (and writes)
    the release record."""
    oci = require_registry(settings)
    signer = Signer.choose(settings, key, keyless)
    chosen = _version(version)
    charts = chart_registry(settings)
    with console.step("check the release's inputs (push rights, chart dependency, signing)"):
        repositories = [repository(settings, spec.name) for spec in CATALOG]
        chart_name = str(chart_metadata(chart_dir)["name"])
        require_push_rights(
            oci, [*repositories, f"{charts.removeprefix('oci://')}/{chart_name}"],
            BUILD_DIR / "access-check",
        )  # fmt: skip
        require_dependencies(chart_dir)
        signer.check()
    built = build_release(
        settings,
        console,
        version=chosen.version if version else None,
        ca_bundle=ca_bundle,
        chart_dir=chart_dir,
    )
    staged = stage_images(
        settings, built.images, version=chosen, signer=signer, force=force, console=console, oci=oci
    )
    with console.step(f"chart {built.chart.name} {built.chart.version}"):
        try:
            chart = stage_chart(settings, charts, built.chart, signer, force=force, oci=oci)
        except FloeError as error:
            if "already exists" not in error.message or not _already_released(staged, oci):
                raise
            chart = _existing_chart(oci, charts, built.chart)
    tag_images(oci, staged, console)
    with console.step(f"tag {chart.reference}"):
        tag_chart(oci, chart)
    record = release_record(settings, chosen, staged, chart)
    record_dir.mkdir(parents=True, exist_ok=True)
    (record_dir / f"{record.version}.json").write_text(record.model_dump_json(indent=2))
    return record
