"""images.prune: give back the disk that floe-deploy's own builds left in the engine.

Every commit builds a new dev version and every rebuild leaves the old image dangling; on a
build machine that runs each commit (CI) that grows without end. Only floe's images are touched:
those carrying its build label, and golden bases of a recipe that is no longer current. The
build cache is trimmed to `build_cache_max_gb`, least recently used records first (with the
`docker` driver the cache holds the layers images share, so untagging alone frees little).
The state dir's caches go with them: SBOMs of images the engine no longer holds (or made by
another syft), and the wheels of another uv.lock.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, computed_field
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as run_docker

from floe_deploy.console import Console
from floe_deploy.images.base import arch_of, base_reference
from floe_deploy.images.build import IMAGE_LABEL
from floe_deploy.images.catalog import BASE_IMAGE
from floe_deploy.images.sbom import sbom_cache, syft_version
from floe_deploy.images.source import registry_host
from floe_deploy.images.versioning import RELEASE_TAG, release_version
from floe_deploy.images.wheels import lock_key, wheel_cache
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.platform.engine import docker_client
from floe_deploy.platform.status import GIB, free_disk
from floe_deploy.settings import Settings

ALL_PLATFORMS = ("linux/amd64", "linux/arm64")
DIRTY = ".dirty"
"""A checkout's clean and dirty builds are both its own."""
ARCH_SUFFIX = re.compile(rf"-({'|'.join(arch_of(p) for p in ALL_PLATFORMS)})(-[^-]+)?$")
"""`<version>-<arch>`, or `<version>-<arch>-<variant>` (the upgrade smoke's release N, built
from this version's image: `-dagster1.9.3`)."""


class StaleTag(BaseModel):
    reference: str
    why: str


class PruneReport(BaseModel):
    """What was (or, with dry_run, would be) removed, and the disk before and after."""

    dry_run: bool
    current_version: str
    stale_tags: list[StaleTag]
    dangling_images: int
    stale_caches: list[str]
    """state-dir paths: SBOMs of images the engine no longer holds, wheels of another uv.lock"""
    build_cache_max_gb: float
    free_before_gb: float
    free_after_gb: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reclaimed_gb(self) -> float:
        return round(self.free_after_gb - self.free_before_gb, 2)


def split_reference(reference: str) -> tuple[str | None, str, str]:
    """`[registry/]repository:tag` → (registry or None, repository, tag)."""
    name, _, tag = reference.rpartition(":")
    if "/" in tag:
        name, tag = reference, "latest"
    host = registry_host(name)
    return (host, name.partition("/")[2], tag) if host else (None, name, tag)


def stale_reason(reference: str, settings: Settings, version: str, bases: set[str]) -> str | None:
    """Why a floe image tag can go, or None to keep it."""
    registry, repository, tag = split_reference(reference)
    if not repository.startswith(f"{settings.image_prefix}/"):
        return None
    if registry is not None:
        return f"a push tag for {registry}: the registry holds the image"
    if repository == f"{settings.image_prefix}/{BASE_IMAGE}":
        return None if reference in bases else "a golden base of an earlier recipe"
    tag_version = ARCH_SUFFIX.sub("", tag)
    ours = tag_version.removesuffix(DIRTY) == version.removesuffix(DIRTY)
    if ours or RELEASE_TAG.match(f"v{tag_version}"):
        return None
    return f"dev version {tag_version}, not the checkout's {version}"


def _floe_tags(client: DockerClient, settings: Settings) -> list[str]:
    labelled = client.image.list(filters={"label": IMAGE_LABEL})
    bases = client.image.list(f"*/{settings.image_prefix}/{BASE_IMAGE}") + client.image.list(
        f"{settings.image_prefix}/{BASE_IMAGE}"
    )
    return sorted({tag for image in labelled + bases for tag in image.repo_tags})


def trim_build_cache(client: DockerClient, max_gb: float) -> None:
    """`docker buildx prune --keep-storage` (python-on-whales wraps prune without that flag)."""
    keep = str(int(max_gb * GIB))
    run_docker([*client.buildx.docker_cmd, "buildx", "prune", "--force", "--keep-storage", keep])


def stale_caches(settings: Settings, image_ids: set[str], lock: str) -> list[Path]:
    """What no build of this checkout can use again: SBOMs by another syft or of an image the
    engine no longer holds, wheels of another lock."""
    stale: list[Path] = []
    sboms = sbom_cache(settings.state_dir)
    if sboms.is_dir():
        current = syft_version()
        for made_by in sorted(sboms.iterdir()):
            if made_by.name != current:
                stale.append(made_by)
                continue
            stale += [
                sbom
                for sbom in sorted(made_by.glob("*.cdx.json"))
                if f"sha256:{sbom.name.removesuffix('.cdx.json')}" not in image_ids
            ]
    wheels = wheel_cache(settings.state_dir)
    if wheels.is_dir():
        stale += [entry for entry in sorted(wheels.iterdir()) if entry.name != lock]
    return stale


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_images(
    settings: Settings, console: Console, *, dry_run: bool = False, repo: Path = PROJECT_ROOT
) -> PruneReport:
    """Untag stale floe images, remove floe's dangling images, trim the unused build cache."""
    client = docker_client(settings)
    before = free_disk(settings.state_dir)[1]
    version = release_version(repo).version
    bases = {base_reference(settings, platform) for platform in ALL_PLATFORMS}
    stale = [
        StaleTag(reference=tag, why=why)
        for tag in _floe_tags(client, settings)
        if (why := stale_reason(tag, settings, version, bases)) is not None
    ]
    if not dry_run:
        with console.step(f"untag {len(stale)} stale floe image tags"):
            for entry in stale:
                try:
                    client.image.remove(entry.reference, prune=True)
                except DockerException as error:
                    if "No such image" not in str(error.stderr):
                        raise
    dangling = client.image.list(filters={"dangling": "true", "label": IMAGE_LABEL})
    if not dry_run:
        with console.step(f"remove {len(dangling)} dangling floe images"):
            client.image.prune(filters={"label": IMAGE_LABEL})
    held = {image.id for image in client.image.list(all=True)}
    wheels_kept = wheel_cache(settings.state_dir).is_dir()
    gone = stale_caches(settings, held, lock_key() if wheels_kept else "")
    if not dry_run:
        with console.step(f"remove {len(gone)} stale SBOM and wheel caches"):
            for path in gone:
                _remove(path)
        with console.step(f"build cache down to {settings.build_cache_max_gb} GB"):
            trim_build_cache(client, settings.build_cache_max_gb)
    return PruneReport(
        dry_run=dry_run,
        current_version=version,
        stale_tags=stale,
        dangling_images=len(dangling),
        stale_caches=[str(path.relative_to(settings.state_dir)) for path in gone],
        build_cache_max_gb=settings.build_cache_max_gb,
        free_before_gb=before,
        free_after_gb=free_disk(settings.state_dir)[1],
    )


def reclaim_step(settings: Settings, console: Console) -> Callable[[], str]:
    """`platform.up --prune`'s step: prune, and say what it gave back."""

    def reclaim() -> str:
        report = prune_images(settings, console)
        return (
            f"{len(report.stale_tags)} stale tags, {report.dangling_images} dangling images: "
            f"{report.free_before_gb} → {report.free_after_gb} GB free"
        )

    return reclaim
