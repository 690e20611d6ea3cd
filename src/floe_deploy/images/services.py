"""Service images ready in the local engine: pulled upstream ones, or hermetic ones built here."""

from __future__ import annotations

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.images.build import build_images, host_platform, plan_build
from floe_deploy.images.catalog import image_spec
from floe_deploy.images.source import ResolvedSource, banner, mirrored, resolve_source
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings


def _pull(client: DockerClient, reference: str, console: Console) -> None:
    with console.step(f"pull {reference}"):
        try:
            client.image.pull(reference, quiet=True)
        except DockerException as error:
            raise FloeError(
                f"pulling {reference} failed",
                "check the registry or mirror, or set FLOE_IMAGE_SOURCE=hermetic",
                details=(error.stderr or "")[-2000:],
            ) from None


def stack_images(
    settings: Settings, names: list[str], console: Console, *, rebuild: bool = True
) -> tuple[ResolvedSource, dict[str, str]]:
    """Image name → reference ready in the local engine for the host's platform.

    Upstream: service images are pulled (only when missing unless `rebuild`); images without an
    upstream (the runtime) and, when hermetic, every image are built. With `rebuild=False` an
    image already present is reused as is: a second `demo.up` must not wait for buildx.
    """
    source = resolve_source(settings)
    console.line(banner(source, settings))
    client = docker_client(settings)
    references: dict[str, str] = {}
    to_build = list(names)
    if source is ResolvedSource.UPSTREAM:
        to_build = [name for name in names if image_spec(name).upstream is None]
        for name in names:
            upstream = image_spec(name).upstream
            if upstream is None:
                continue
            references[name] = mirrored(upstream, settings.mirror)
            if rebuild or not client.image.exists(references[name]):
                _pull(client, references[name], console)
    if to_build:
        local = settings.model_copy(update={"platforms": [host_platform()]})
        plan = plan_build(local, to_build)
        wanted = [target for target in plan.targets if target.image in to_build]
        if rebuild or not all(client.image.exists(target.reference) for target in wanted):
            build_images(local, plan, console)
        references |= {target.image: target.reference for target in wanted}
    return source, references


def service_images(settings: Settings, names: list[str], console: Console) -> dict[str, str]:
    """Service name → image reference ready in the local engine, for the host's platform."""
    for name in names:
        if image_spec(name).upstream is None:
            raise FloeError(f"{name} is not a service image", "choose a service from the catalog")
    return stack_images(settings, names, console)[1]
