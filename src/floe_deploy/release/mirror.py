"""images.mirror: copy every upstream image the project uses to a mirror registry."""

from __future__ import annotations

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.demo.stack import profile_images
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.images import canonical, third_party_images
from floe_deploy.images.catalog import upstream_references
from floe_deploy.images.source import mirrored, upstream_reachable
from floe_deploy.oci import OciClient
from floe_deploy.settings import Settings


class MirroredImage(BaseModel):
    name: str
    source: str
    target: str


class MirrorReport(BaseModel):
    mirror: str
    images: list[MirroredImage]


def mirror_sources(settings: Settings) -> dict[str, str]:
    """name → reference of every image a deployment pulls that the project does not build: the
    catalog's upstream images, whatever any of the chart's values files renders, and the compose
    demo's optional profiles."""
    sources = upstream_references(settings.python_version)
    known = {canonical(reference) for reference in sources.values()}
    for image in sorted(third_party_images(settings)):
        if canonical(image) not in known:
            sources[f"chart: {image}"] = image
            known.add(canonical(image))
    for variable, image in profile_images().items():
        if canonical(image) not in known:
            sources[
                f"demo profile: {variable.removeprefix('FLOE_').removesuffix('_IMAGE').lower()}"
            ] = image
            known.add(canonical(image))
    return sources


def mirror_images(settings: Settings, to: str, console: Console) -> MirrorReport:
    """All platforms of each upstream image (and its signatures/SBOMs), copied registry to registry.

    The source is the upstream registry, or the mirror already configured (FLOE_MIRROR), so a
    mirror can also be copied on to the next one.
    """
    sources = mirror_sources(settings)
    references = {name: mirrored(ref, settings.mirror) for name, ref in sources.items()}
    unreachable = [ref for ref in references.values() if not upstream_reachable(ref)]
    if unreachable:
        raise FloeError(
            f"no upstream registry is reachable from here (tried {unreachable[0]})",
            "run images.mirror on a machine that reaches the upstream registries; "
            "air-gapped machines use hermetic images (FLOE_IMAGE_SOURCE=hermetic)",
            exit_code=ExitCode.USAGE,
        )
    oci = OciClient.from_settings(settings)
    copied = []
    for name, source in references.items():
        target = mirrored(sources[name], to)
        with console.step(f"mirror {source} → {target}"):
            oci.copy(source, target)
        copied.append(MirroredImage(name=name, source=source, target=target))
    return MirrorReport(mirror=to, images=copied)
