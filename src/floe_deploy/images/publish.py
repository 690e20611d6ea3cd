"""images.publish and images.verify: per-platform pushes, then one multi-arch manifest list per
image; a signed CycloneDX SBOM attestation on each platform's image, a signed SLSA provenance on
the list and on each platform's image, and a cosign signature on the list.

A release is all or nothing: manifest lists are pushed by digest, SBOMs and signatures refer to
those digests, and only when every image is complete do the release tags (1.2.3, 1.2, 1, latest)
move onto them. A failure leaves no release tag behind; a re-run pushes what is missing and tags.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.images.base import arch_of
from floe_deploy.images.build import BuildReport, BuiltImage
from floe_deploy.images.catalog import BASE_IMAGE
from floe_deploy.images.provenance import (
    BuildContext,
    attest_provenance,
    provenance_predicate,
    verify_provenance,
)
from floe_deploy.images.sbom import COSIGN_TYPE as SBOM_TYPE
from floe_deploy.images.sbom import PREDICATE_TYPE as SBOM_PREDICATE
from floe_deploy.images.sbom import Sbom, image_sbom
from floe_deploy.images.signing import (
    Signer,
    Verifier,
    attest,
    attested_types,
    sign,
    verified_statements,
    verify_signature,
)
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.oci import INDEX_TYPE, Descriptor, OciClient, classify_failure, repository_of
from floe_deploy.paths import BUILD_DIR
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings

SBOM_DIR = BUILD_DIR / "sbom"
PROVENANCE_DIR = BUILD_DIR / "provenance"


class PublishedImage(BaseModel):
    image: str
    repository: str
    tags: list[str]
    digest: str
    platforms: dict[str, str]
    sboms: dict[str, Path | None]
    """platform → the CycloneDX document attested on that platform's image (None: an earlier run
    of this publish attested it, and it is not made again)"""
    sbom_components: dict[str, int]
    signed: bool
    provenance: Path | None = None


class PublishReport(BaseModel):
    registry: str
    version: str
    images: list[PublishedImage]


class VerifiedImage(BaseModel):
    image: str
    reference: str
    digest: str | None
    signature_ok: bool
    signature_detail: str
    sboms: dict[str, bool] = {}
    """platform → a signed SBOM attestation verifies on that platform's image"""
    provenance_ok: bool = False
    provenance_detail: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.signature_ok
            and bool(self.sboms)
            and all(self.sboms.values())
            and self.provenance_ok
        )


class VerifyReport(BaseModel):
    images: list[VerifiedImage]

    @property
    def ok(self) -> bool:
        return all(image.ok for image in self.images)


def require_registry(settings: Settings, client: OciClient | None = None) -> OciClient:
    """Reach, trust and log in to the registry before anything is built or pushed."""
    client = client or OciClient.from_settings(settings)
    client.check(settings.registry, f"{settings.image_prefix}/access-check")
    return client


def require_push_rights(oci: OciClient, repositories: list[str], scratch: Path) -> None:
    """This login may push to every repository the release writes (GHCR and GitLab accept pushes
    only under the owner's namespace), checked before anything is built."""
    for repository_name in repositories:
        oci.check_push(repository_name, scratch)


def platform_manifests(client: OciClient, reference: str) -> dict[str, str]:
    """platform → manifest digest of every image a tag or digest names (attestation entries of an
    index left out; a single-platform manifest is `?/?`)."""
    fetched = client.fetch(reference)
    if fetched is None:
        return {}
    descriptor, body = fetched
    entries = body.get("manifests") or [{"digest": descriptor.digest, "platform": {}}]
    manifests = {}
    for entry in entries:
        platform: dict[str, str] = entry.get("platform") or {}
        if platform.get("os") != "unknown":
            key = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
            manifests[key] = str(entry["digest"])
    return manifests


def platform_configs(client: OciClient, reference: str) -> dict[str, str]:
    """platform → config digest (= the local image id) of every image in a tag's index."""
    repository_name = repository_of(reference)
    configs = {}
    for platform, digest in platform_manifests(client, reference).items():
        child = client.fetch(f"{repository_name}@{digest}")
        if child is not None:
            configs[platform] = str(child[1]["config"]["digest"])
    return configs


def repository(settings: Settings, image: str) -> str:
    return f"{settings.registry}/{settings.image_prefix}/{image}"


def _by_image(report: BuildReport) -> dict[str, list[BuiltImage]]:
    grouped: dict[str, list[BuiltImage]] = {}
    for built in report.images:
        grouped.setdefault(built.image, []).append(built)
    return grouped


PUSH_LANES = 2
"""Images pushed at once. The daemon gzips each layer on one core as it uploads, and an image's
platforms have layers of their own (the runtime image's 660 MB venv, twice): two lanes keep two
cores compressing."""


def push_images(
    settings: Settings,
    report: BuildReport,
    console: Console,
    oci: OciClient | None = None,
    on_pushed: Callable[[BuiltImage], None] | None = None,
) -> BuildReport:
    """Push every built image under `<registry>/<prefix>/<image>:<tag>-<arch>`; record digests.

    The Docker daemon pushes with the credentials of `docker login`; its failures get the same
    messages as the toolkit's own registry calls. The push tag is dropped again: the registry
    holds the image, and the engine keeps its local tag (no per-registry copies pile up).
    Images go PUSH_LANES at a time in the report's order (the base image's platforms first,
    so the others find its layers in the registry); `on_pushed` hears of each image (with its
    digest) in that order, as soon as it and those before it are in the registry. After a
    failure the pushes under way end, nothing new starts, and the first failure is raised.
    """
    oci = require_registry(settings, oci)
    client = docker_client(settings)

    def push(built: BuiltImage) -> BuiltImage:
        remote = f"{repository(settings, built.image)}:{report.tag}-{arch_of(built.platform)}"
        started = time.monotonic()
        try:
            client.image.tag(built.reference, remote)
            try:
                client.image.push(remote, quiet=True)
            finally:
                client.image.remove(remote, prune=False)
        except DockerException as error:
            raise classify_failure(
                settings.registry,
                f"{error.stderr or ''}{error.stdout or ''}",
                f"pushing {remote}",
            ) from None
        manifest = oci.resolve(remote)
        console.line(f"  pushed {remote} ({time.monotonic() - started:.1f} s)")
        return built.model_copy(
            update={"pushed_reference": remote, "digest": manifest.digest if manifest else None}
        )

    bases = [b for b in report.images if b.image == BASE_IMAGE]
    others = [b for b in report.images if b.image != BASE_IMAGE]
    pushed: list[BuiltImage] = []
    with (
        console.step(f"push {len(report.images)} images to {settings.registry}"),
        ThreadPoolExecutor(PUSH_LANES, thread_name_prefix="push") as lanes,
    ):
        for group in (bases, others):
            futures = [lanes.submit(push, built) for built in group]
            try:
                for future in futures:
                    done = future.result()
                    if on_pushed is not None:
                        on_pushed(done)
                    pushed.append(done)
            finally:
                for future in futures:
                    future.cancel()
    return report.model_copy(update={"images": pushed})


def refuse_overwriting_releases(
    settings: Settings,
    report: BuildReport,
    version: ReleaseVersion,
    force: bool,
    oci: OciClient | None = None,
) -> None:
    """A release tag that already names other images is refused before anything is pushed."""
    if not version.is_release or force:
        return
    oci = oci or OciClient.from_settings(settings)
    for image, builds in _by_image(report).items():
        existing = platform_configs(oci, f"{repository(settings, image)}:{version.version}")
        if not existing:
            continue
        ours = {built.platform: built.image_id for built in builds}
        if any(existing.get(platform) != image_id for platform, image_id in ours.items()):
            raise FloeError(
                f"release {version.version} of {image} already exists in {settings.registry} with another digest",
                "publish a new version tag, or pass --force to overwrite the release",
            )


def _platform_entry(oci: OciClient, built: BuiltImage) -> dict[str, object]:
    reference = built.pushed_reference or ""
    descriptor = oci.resolve(reference)
    if descriptor is None:
        raise FloeError(f"{reference} vanished after its push", "re-run the publish")
    os_name, _, architecture = built.platform.partition("/")
    return Descriptor(
        media_type=descriptor.media_type,
        digest=descriptor.digest,
        size=descriptor.size,
        platform={"os": os_name, "architecture": architecture},
    ).entry()


def stage_images(
    settings: Settings,
    report: BuildReport,
    *,
    version: ReleaseVersion,
    signer: Signer,
    force: bool,
    console: Console,
    oci: OciClient | None = None,
) -> PublishReport:
    """Push, list, attach (SBOM, provenance) and sign every image by digest; no release tag moves."""
    oci = require_registry(settings, oci)
    refuse_overwriting_releases(settings, report, version, force, oci)
    started = datetime.now(UTC)
    context = BuildContext.from_environment()
    scanner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syft")
    scans: dict[str, Future[Sbom]] = {}

    def scan_unless_attested(built: BuiltImage) -> None:
        """syft scans an image while the next one pushes (each keeps a core busy); an image a
        cut-short run already attested is not scanned."""
        if SBOM_PREDICATE in attested_types(
            oci, f"{repository(settings, built.image)}@{built.digest}"
        ):
            return
        scans[built.reference] = scanner.submit(
            image_sbom,
            settings,
            built.reference,
            built.image_id,
            SBOM_DIR / report.tag / arch_of(built.platform),
            built.image,
        )

    try:
        pushed = push_images(settings, report, console, oci, on_pushed=scan_unless_attested)
        return _attach_and_sign(
            settings, pushed, scans, version=version, signer=signer, started=started,
            context=context, console=console, oci=oci,
        )  # fmt: skip
    finally:
        scanner.shutdown(wait=True, cancel_futures=True)


def _attach_and_sign(
    settings: Settings,
    pushed: BuildReport,
    scans: dict[str, Future[Sbom]],
    *,
    version: ReleaseVersion,
    signer: Signer,
    started: datetime,
    context: BuildContext,
    console: Console,
    oci: OciClient,
) -> PublishReport:
    """One manifest list per image, its SBOMs (scanned while the images pushed) and provenance
    attested, and the list signed."""
    tags = version.tags if pushed.tag == version.version else [pushed.tag]
    staged = []
    for image, builds in _by_image(pushed).items():
        repo = repository(settings, image)
        with console.step(f"manifest list {repo}"):
            index = oci.push_manifest(
                repo,
                {
                    "schemaVersion": 2,
                    "mediaType": INDEX_TYPE,
                    "manifests": [_platform_entry(oci, built) for built in builds],
                },
                INDEX_TYPE,
            )
        digest_reference = f"{repo}@{index.digest}"
        sboms: dict[str, Path | None] = {}
        components: dict[str, int] = {}
        for built in builds:
            scan = scans.get(built.reference)
            if scan is None:
                sboms[built.platform], components[built.platform] = None, 0
                continue
            with console.step(f"SBOM {image} {built.platform} (syft, signed attestation)"):
                sbom = scan.result()
                attest(oci, f"{repo}@{built.digest}", sbom.path, SBOM_TYPE, signer)
            sboms[built.platform], components[built.platform] = sbom.path, sbom.components
        with console.step(f"provenance {image}"):
            predicate = provenance_predicate(image, builds, version, started, context)
            provenance = attest_provenance(
                oci,
                [digest_reference, *(f"{repo}@{built.digest}" for built in builds)],
                predicate,
                signer,
                PROVENANCE_DIR / pushed.tag / f"{image}.provenance.json",
            )
        with console.step(f"sign {digest_reference}"):
            sign(oci, digest_reference, signer)
        staged.append(
            PublishedImage(
                image=image,
                repository=repo,
                tags=tags,
                digest=index.digest,
                platforms={built.platform: built.digest or "" for built in builds},
                sboms=sboms,
                sbom_components=components,
                signed=True,
                provenance=provenance,
            )
        )
    return PublishReport(registry=settings.registry, version=pushed.tag, images=staged)


def tag_images(oci: OciClient, staged: PublishReport, console: Console) -> None:
    """Move the release tags onto the staged manifest lists: the last step of a publish."""
    for entry in staged.images:
        with console.step(f"tag {entry.repository}:{', '.join(entry.tags)}"):
            oci.tag(f"{entry.repository}@{entry.digest}", entry.tags)


def publish_images(
    settings: Settings,
    report: BuildReport,
    *,
    version: ReleaseVersion,
    key: Path | None,
    force: bool,
    console: Console,
    keyless: bool = False,
) -> PublishReport:
    """Stage every image, then, only then, move the release tags."""
    oci = require_registry(settings)
    staged = stage_images(
        settings,
        report,
        version=version,
        signer=Signer.choose(settings, key, keyless),
        force=force,
        console=console,
        oci=oci,
    )
    tag_images(oci, staged, console)
    return staged


def verify_images(
    settings: Settings, images: list[str], tag: str, verifier: Verifier
) -> VerifyReport:
    """Each image's tag resolves, its signature verifies with the key, and an SBOM refers to it."""
    oci = require_registry(settings)
    results = []
    for image in images:
        reference = f"{repository(settings, image)}:{tag}"
        manifest = oci.resolve(reference)
        if manifest is None:
            results.append(VerifiedImage(image=image, reference=reference, digest=None, signature_ok=False,
                                         signature_detail="tag not in the registry", sboms=0))  # fmt: skip
            continue
        digest_reference = f"{repository(settings, image)}@{manifest.digest}"
        ok, detail = verify_signature(oci, digest_reference, verifier)
        provenance_ok, provenance_detail = verify_provenance(oci, digest_reference, verifier)
        sboms = {}
        for platform_name, platform_digest in platform_manifests(oci, digest_reference).items():
            statements, _ = verified_statements(
                oci, f"{repository(settings, image)}@{platform_digest}", SBOM_TYPE, verifier
            )
            sboms[platform_name] = bool(statements)
        results.append(
            VerifiedImage(
                image=image,
                reference=reference,
                digest=manifest.digest,
                signature_ok=ok,
                signature_detail=detail,
                sboms=sboms,
                provenance_ok=provenance_ok,
                provenance_detail=provenance_detail,
            )
        )
    return VerifyReport(images=results)
