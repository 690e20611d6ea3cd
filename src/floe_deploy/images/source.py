"""Upstream or hermetic: which images run the platform's services on this machine.

Online users get the official upstream images (optionally through a mirror); where no registry
can be reached, the hermetic images built FROM the golden base stand in. `image_source = "auto"`
decides by asking the registry for one upstream manifest.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache

from floe_deploy.errors import FloeError
from floe_deploy.images.catalog import image_spec
from floe_deploy.oci import OciClient
from floe_deploy.settings import ImageSource, Settings


class ResolvedSource(StrEnum):
    UPSTREAM = "upstream"
    HERMETIC = "hermetic"


def registry_host(reference: str) -> str | None:
    """The registry host a reference names, None for a short name (`busybox:1.28`,
    `cubejs/cube:v1`) that the engine resolves by its own search list."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def mirrored(reference: str, mirror: str | None) -> str:
    """`postgres:15` → `<mirror>/library/postgres:15`: the same path a registry mirror serves."""
    if not mirror:
        return reference
    if registry_host(reference):
        reference = reference.partition("/")[2]
    elif "/" not in reference:
        reference = f"library/{reference}"
    return f"{mirror.rstrip('/')}/{reference}"


@cache
def upstream_reachable(probe_reference: str) -> bool:
    """The registry serving a reference has it (cached per process)."""
    try:
        return OciClient(timeout=30).resolve(probe_reference) is not None
    except FloeError:
        return False


def resolve_source(settings: Settings) -> ResolvedSource:
    if settings.image_source is ImageSource.UPSTREAM:
        return ResolvedSource.UPSTREAM
    if settings.image_source is ImageSource.HERMETIC:
        return ResolvedSource.HERMETIC
    probe = mirrored(image_spec("postgres").upstream or "", settings.mirror)
    return ResolvedSource.UPSTREAM if upstream_reachable(probe) else ResolvedSource.HERMETIC


def banner(source: ResolvedSource, settings: Settings) -> str:
    if source is ResolvedSource.HERMETIC:
        how = (
            "chosen"
            if settings.image_source is ImageSource.HERMETIC
            else "auto-detected: no registry reachable"
        )
        return f"HERMETIC IMAGES ({how}): images built from Debian packages on the floe golden base"
    return f"UPSTREAM IMAGES{' via mirror ' + settings.mirror if settings.mirror else ''}"
