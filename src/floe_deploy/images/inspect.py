"""images.inspect: a catalog name stands for this version's per-platform tags in the engine."""

from __future__ import annotations

from floe_deploy.errors import FloeError
from floe_deploy.images.base import base_reference
from floe_deploy.images.build import local_reference
from floe_deploy.images.catalog import CATALOG, ImageKind, image_spec
from floe_deploy.images.policy import ImageInspection, inspect_image
from floe_deploy.images.versioning import release_version
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings


def references_for(settings: Settings, image: str, tag: str | None) -> list[str]:
    if image not in {spec.name for spec in CATALOG}:
        return [image]
    spec = image_spec(image)
    version = tag or release_version(PROJECT_ROOT).version
    if spec.kind is ImageKind.BASE:
        return [base_reference(settings, platform) for platform in settings.platforms]
    return [local_reference(settings, image, version, platform) for platform in settings.platforms]


def inspect_named(
    settings: Settings, image: str, *, tag: str | None, run_checks: bool
) -> list[ImageInspection]:
    client = docker_client(settings)
    references = references_for(settings, image, tag)
    missing = [ref for ref in references if not client.image.exists(ref)]
    if missing:
        raise FloeError(
            f"image {missing[0]} is not in the local engine",
            f"build it first: `invoke images.build --image {image}`",
        )
    return [inspect_image(client, reference, run_checks=run_checks) for reference in references]
