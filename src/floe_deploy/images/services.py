"""Service images ready in the local engine: pulled upstream ones, or hermetic ones built here."""

from __future__ import annotations

from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.images.build import build_images, host_platform, plan_build
from floe_deploy.images.catalog import image_spec
from floe_deploy.images.source import ResolvedSource, banner, mirrored, resolve_source
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings


def service_images(settings: Settings, names: list[str], console: Console) -> dict[str, str]:
    """Service name → image reference ready in the local engine, for the host's platform."""
    source = resolve_source(settings)
    console.line(banner(source, settings))
    if source is ResolvedSource.UPSTREAM:
        client = docker_client(settings)
        references = {}
        for name in names:
            upstream = image_spec(name).upstream
            if upstream is None:
                raise FloeError(f"{name} has no upstream image", "use FLOE_IMAGE_SOURCE=hermetic")
            references[name] = mirrored(upstream, settings.mirror)
            with console.step(f"pull {references[name]}"):
                try:
                    client.image.pull(references[name], quiet=True)
                except DockerException as error:
                    raise FloeError(
                        f"pulling {references[name]} failed",
                        "check the registry or mirror, or set FLOE_IMAGE_SOURCE=hermetic",
                        details=(error.stderr or "")[-2000:],
                    ) from None
        return references
    local = settings.model_copy(update={"platforms": [host_platform()]})
    plan = plan_build(local, names)
    build_images(local, plan, console)
    return {target.image: target.reference for target in plan.targets if target.image in names}
