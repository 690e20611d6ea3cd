"""images.publish and images.verify: per-platform pushes, then one multi-arch manifest list per
image (only after every platform pushed), an attached CycloneDX SBOM and a cosign signature."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.base import arch_of
from floe_deploy.images.build import BuildReport, BuiltImage
from floe_deploy.images.layers import scan_image
from floe_deploy.images.registry_api import get_manifest, platform_configs
from floe_deploy.images.sbom import image_sbom, write_sbom
from floe_deploy.images.signing import (
    attach_sbom,
    attached_sboms,
    dev_key_pair,
    sign,
    verify_signature,
)
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.paths import BUILD_DIR
from floe_deploy.platform.engine import docker_client
from floe_deploy.platform.registry import registry_api_version
from floe_deploy.settings import Settings

SBOM_DIR = BUILD_DIR / "sbom"


class PublishedImage(BaseModel):
    image: str
    repository: str
    tags: list[str]
    digest: str
    platforms: dict[str, str]
    sbom: Path
    sbom_components: int
    sbom_digest: str
    signed: bool


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
    sboms: int

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.sboms > 0


class VerifyReport(BaseModel):
    images: list[VerifiedImage]

    @property
    def ok(self) -> bool:
        return all(image.ok for image in self.images)


def require_registry(settings: Settings) -> None:
    if registry_api_version(settings) is None:
        raise FloeError(
            f"no registry answers on {settings.registry}",
            "run `invoke platform.up`, or pass --registry HOST:PORT of a reachable registry",
        )


def repository(settings: Settings, image: str) -> str:
    return f"{settings.registry}/{settings.image_prefix}/{image}"


def _by_image(report: BuildReport) -> dict[str, list[BuiltImage]]:
    grouped: dict[str, list[BuiltImage]] = {}
    for built in report.images:
        grouped.setdefault(built.image, []).append(built)
    return grouped


def push_images(settings: Settings, report: BuildReport, console: Console) -> BuildReport:
    """Push every built image under `<registry>/<prefix>/<image>:<tag>-<arch>`; record digests."""
    require_registry(settings)
    client = docker_client(settings)
    pushed = []
    for built in report.images:
        remote = f"{repository(settings, built.image)}:{report.tag}-{arch_of(built.platform)}"
        with console.step(f"push {remote}"):
            try:
                client.image.tag(built.reference, remote)
                client.image.push(remote, quiet=True)
            except DockerException as error:
                raise FloeError(
                    f"pushing {remote} failed",
                    f"check that {settings.registry} accepts pushes (`invoke platform.status`)",
                    exit_code=ExitCode.FAILURE,
                    details=(error.stderr or "")[-2000:],
                ) from None
            manifest = get_manifest(remote)
        pushed.append(
            built.model_copy(
                update={"pushed_reference": remote, "digest": manifest.digest if manifest else None}
            )
        )
    return report.model_copy(update={"images": pushed})


def refuse_overwriting_releases(
    settings: Settings, report: BuildReport, version: ReleaseVersion, force: bool
) -> None:
    """A release tag that already names other images is refused before anything is pushed."""
    if not version.is_release or force:
        return
    for image, builds in _by_image(report).items():
        existing = platform_configs(f"{repository(settings, image)}:{version.version}")
        if not existing:
            continue
        ours = {built.platform: built.image_id for built in builds}
        if any(existing.get(platform) != image_id for platform, image_id in ours.items()):
            raise FloeError(
                f"release {version.version} of {image} already exists in {settings.registry} with another digest",
                "publish a new version tag, or pass --force to overwrite the release",
            )


def publish_images(
    settings: Settings,
    report: BuildReport,
    *,
    version: ReleaseVersion,
    key: Path | None,
    force: bool,
    console: Console,
) -> PublishReport:
    require_registry(settings)
    refuse_overwriting_releases(settings, report, version, force)
    pushed = push_images(settings, report, console)
    signing_key = key or dev_key_pair(settings)[0]
    client = docker_client(settings)
    tags = version.tags if report.tag == version.version else [report.tag]
    published = []
    for image, builds in _by_image(pushed).items():
        repo = repository(settings, image)
        sources = [built.pushed_reference for built in builds if built.pushed_reference]
        with console.step(f"manifest list {repo}:{', '.join(tags)}"):
            client.buildx.imagetools.create(sources=sources, tags=[f"{repo}:{tag}" for tag in tags])
            index = get_manifest(f"{repo}:{tags[0]}")
            if index is None:
                raise FloeError(
                    f"the manifest list {repo}:{tags[0]} did not appear",
                    "check the registry's logs",
                )
        digest_reference = f"{repo}@{index.digest}"
        with console.step(f"SBOM {image}"):
            document, components = image_sbom(
                scan_image(client, builds[0].reference),
                f"{settings.image_prefix}/{image}",
                report.tag,
            )
            sbom = write_sbom(document, SBOM_DIR, image, report.tag)
            sbom_digest = attach_sbom(digest_reference, sbom)
        with console.step(f"sign {digest_reference}"):
            sign(digest_reference, signing_key)
        published.append(
            PublishedImage(
                image=image,
                repository=repo,
                tags=tags,
                digest=index.digest,
                platforms={built.platform: built.digest or "" for built in builds},
                sbom=sbom,
                sbom_components=components,
                sbom_digest=sbom_digest,
                signed=True,
            )
        )
    return PublishReport(registry=settings.registry, version=report.tag, images=published)


def verify_images(
    settings: Settings, images: list[str], tag: str, public_key: Path | None
) -> VerifyReport:
    """Each image's tag resolves, its signature verifies with the key, and an SBOM refers to it."""
    require_registry(settings)
    key = public_key or dev_key_pair(settings)[1]
    results = []
    for image in images:
        reference = f"{repository(settings, image)}:{tag}"
        manifest = get_manifest(reference)
        if manifest is None:
            results.append(VerifiedImage(image=image, reference=reference, digest=None, signature_ok=False,
                                         signature_detail="tag not in the registry", sboms=0))  # fmt: skip
            continue
        digest_reference = f"{repository(settings, image)}@{manifest.digest}"
        ok, detail = verify_signature(digest_reference, key)
        results.append(
            VerifiedImage(
                image=image,
                reference=reference,
                digest=manifest.digest,
                signature_ok=ok,
                signature_detail=detail,
                sboms=len(attached_sboms(digest_reference)),
            )
        )
    return VerifyReport(images=results)
