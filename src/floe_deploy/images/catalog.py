"""Every image the project builds or uses, in one list.

Online users get the upstream image of each service; where no registry can be reached, the
hermetic image (built FROM the golden base from distribution and language packages) stands in.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.paths import IMAGES_DIR


class ImageKind(StrEnum):
    BASE = "base"
    RUNTIME = "runtime"
    SERVICE = "service"


class ImageSpec(BaseModel):
    """One image: where its Dockerfile is, and which upstream image it replaces, if any."""

    name: str
    kind: ImageKind
    description: str
    upstream: str | None = None
    needs_network: bool = False

    @property
    def context(self) -> Path:
        return IMAGES_DIR / self.name

    @property
    def dockerfile(self) -> Path:
        return self.context / "Dockerfile"


UPSTREAM_PYTHON_BASE = "python:{python_version}-slim"
"""The official image the runtime image builds FROM online (the golden base when hermetic)."""

BASE_IMAGE = "python-base"
"""The golden base the other images build FROM (hermetic builds)."""

CATALOG: tuple[ImageSpec, ...] = (
    ImageSpec(
        name=BASE_IMAGE,
        kind=ImageKind.BASE,
        description="golden base: Debian minbase + python3 + venv + gdbm + ca-certificates",
    ),
    ImageSpec(
        name="dagster",
        kind=ImageKind.RUNTIME,
        description="floe runtime: Dagster webserver, daemon and the demo code location",
    ),
    ImageSpec(
        name="postgres",
        kind=ImageKind.SERVICE,
        description="PostgreSQL from Debian, with the official image's entrypoint contract",
        upstream="postgres:15",
        needs_network=True,
    ),
    ImageSpec(
        name="s3",
        kind=ImageKind.SERVICE,
        description="S3-compatible server (s3rver on Debian's Node.js), persisting to a volume",
        upstream="minio/minio:RELEASE.2025-04-22T22-12-26Z",
        needs_network=True,
    ),
    ImageSpec(
        name="cube",
        kind=ImageKind.SERVICE,
        description="Cube 0.32 (npm) on Debian's Node.js: the semantic layer over the marts",
        upstream="cubejs/cube:v1.3.23",
        needs_network=True,
    ),
    ImageSpec(
        name="busybox",
        kind=ImageKind.SERVICE,
        description="BusyBox (Debian's) for the dagster chart's init containers (nslookup, sh)",
        upstream="busybox:1.28",
        needs_network=True,
    ),
    ImageSpec(
        name="registry",
        kind=ImageKind.SERVICE,
        description="OCI registry (Debian's docker-registry), for tests and mirrors",
        upstream="registry:2.8",
        needs_network=True,
    ),
)


def image_spec(name: str) -> ImageSpec:
    for spec in CATALOG:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in CATALOG)
    raise FloeError(f"unknown image {name!r}", f"choose one of: {known}")


def upstream_references(python_version: str) -> dict[str, str]:
    """Every upstream image the project uses (what images.mirror copies), by the name it serves."""
    references = {spec.name: spec.upstream for spec in CATALOG if spec.upstream}
    references["python-base (runtime, online)"] = UPSTREAM_PYTHON_BASE.format(
        python_version=python_version
    )
    return references
