"""Pushing built images: per-platform tags first, the multi-arch manifest list only after all."""

from __future__ import annotations

from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.base import arch_of
from floe_deploy.images.build import BuildReport
from floe_deploy.platform.engine import docker_client
from floe_deploy.platform.registry import registry_api_version
from floe_deploy.settings import Settings


def require_registry(settings: Settings) -> None:
    if registry_api_version(settings) is None:
        raise FloeError(
            f"no registry answers on {settings.registry}",
            "run `invoke platform.up`, or pass --registry HOST:PORT of a reachable registry",
        )


def repository(settings: Settings, image: str) -> str:
    return f"{settings.registry}/{settings.image_prefix}/{image}"


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
                digests = client.image.inspect(remote).repo_digests or []
            except DockerException as error:
                raise FloeError(
                    f"pushing {remote} failed",
                    f"check that {settings.registry} accepts pushes (`invoke platform.status`)",
                    exit_code=ExitCode.FAILURE,
                    details=(error.stderr or "")[-2000:],
                ) from None
        digest = next(
            (d.split("@", 1)[1] for d in digests if d.startswith(remote.rsplit(":", 1)[0])), None
        )
        pushed.append(built.model_copy(update={"pushed_reference": remote, "digest": digest}))
    return report.model_copy(update={"images": pushed})
