"""`floe-bundle.json`: what an offline bundle holds and the checksum of every file in it.

The bundle is an OCI image layout; the manifest names each artifact (its repository under the
release's prefix, the tag it carries, its digest) and lists the sha256 of every other file, so an
import refuses a changed, missing or added file by name before it reads any of them.
"""

from __future__ import annotations

import hashlib
import tarfile
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ValidationError

from floe_deploy.errors import ExitCode, FloeError

MANIFEST_NAME = "floe-bundle.json"
BUNDLE_FORMAT = 1
"""1: an OCI image layout (oras), cosign's `.sig`/`.att` tags as artifacts of their own."""


class ArtifactKind(StrEnum):
    IMAGE = "image"
    CHART = "chart"
    DEPENDENCY = "dependency-chart"
    SIGNATURE = "signature"
    ATTESTATION = "attestation"


class BundledArtifact(BaseModel):
    """One manifest or index in the layout and where it goes on import."""

    kind: ArtifactKind
    repository: str
    """path under the release's prefix: `dagster`, `charts/floe-dagster`"""
    tag: str
    digest: str
    source: str
    """the reference it was exported from"""
    layout_name: str
    """its `org.opencontainers.image.ref.name` in the layout's index.json"""
    subject: str | None = None
    """signatures and attestations: the digest they are about"""
    platforms: dict[str, str] = {}
    """images: platform → that platform's manifest digest"""


class BundleManifest(BaseModel):
    """What `bundle.export` wrote, and what `bundle.import` trusts once the checksums hold."""

    format: int = BUNDLE_FORMAT
    version: str
    source_registry: str
    source_prefix: str
    created_at: str
    artifacts: list[BundledArtifact]
    checksums: dict[str, str]
    """path inside the archive → sha256 (hex) of every file but this manifest"""

    def of_kind(self, kind: ArtifactKind) -> list[BundledArtifact]:
        return [artifact for artifact in self.artifacts if artifact.kind is kind]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(root: Path) -> dict[str, str]:
    """Every file under `root` but the manifest, by its POSIX path relative to `root`."""
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    }


def read_manifest(root: Path) -> BundleManifest:
    """The bundle's manifest; an archive without one, or of another format, is refused."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise FloeError(
            f"not a floe bundle: {MANIFEST_NAME} is missing",
            "pass an archive written by `invoke bundle.export`",
            exit_code=ExitCode.USAGE,
        )
    try:
        raw = BundleManifest.model_validate_json(path.read_text())
    except ValidationError as error:
        raise FloeError(
            f"{MANIFEST_NAME} is not a bundle manifest ({error.errors()[0]['msg']})",
            "export the bundle again with `invoke bundle.export`",
            exit_code=ExitCode.USAGE,
        ) from None
    if raw.format != BUNDLE_FORMAT:
        raise FloeError(
            f"bundle format {raw.format} is unknown to this toolkit (it reads {BUNDLE_FORMAT})",
            "import with the floe-deploy version that exported the bundle",
            exit_code=ExitCode.USAGE,
        )
    return raw


def check_checksums(root: Path, manifest: BundleManifest) -> None:
    """Every listed file is there with its checksum, and no other file is: else the first
    offending path is named."""
    found = checksums(root)
    for path, expected in sorted(manifest.checksums.items()):
        actual = found.get(path)
        if actual is None:
            raise _tampered(f"{path} is missing from the bundle")
        if actual != expected:
            raise _tampered(f"{path} does not match its checksum (sha256 {actual[:12]}…, the "
                            f"manifest says {expected[:12]}…)")  # fmt: skip
    extra = sorted(set(found) - set(manifest.checksums))
    if extra:
        raise _tampered(f"{extra[0]} is in the bundle but not in its manifest")


def _tampered(message: str) -> FloeError:
    return FloeError(
        f"bundle refused: {message}",
        "nothing was pushed; copy the archive again from where it was exported",
        exit_code=ExitCode.UNHEALTHY,
    )


def unpack(archive: Path, destination: Path) -> Path:
    """Extract the archive with tarfile's `data` filter: no links out, no absolute paths."""
    if not archive.is_file():
        raise FloeError(f"{archive} does not exist", "pass the bundle's path",
                        exit_code=ExitCode.USAGE)  # fmt: skip
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise _tampered(f"{archive.name} is not a readable tar archive ({error})") from None
    return destination


def pack(root: Path, archive: Path) -> None:
    """The layout and its manifest as one uncompressed tar (the blobs are compressed already)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
