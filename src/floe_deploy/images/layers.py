"""Reading an image layer by layer, without running it: what the SBOM and the policy checks see.

`docker save` gives every layer, so a secret added in one layer and deleted in a later one is
still found; the final filesystem (after whiteouts) is what the SBOM and the compiler check read.
"""

from __future__ import annotations

import json
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from python_on_whales import DockerClient

MAX_SCANNED_BYTES = 1_000_000
SECRET_PATTERNS = {
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\s*\n\s*[A-Za-z0-9+/=]{40,}"
    ),
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
}
DOCUMENTED_EXAMPLES = (b"AKIAIOSFODNN7EXAMPLE", b"EXAMPLE")
DOCUMENTATION = re.compile(
    r"(\.(md|markdown|rst|adoc|txt)$|^usr/share/doc/|/(tests?|examples?|docs?)/)", re.IGNORECASE
)
"""Where libraries keep example keys and tokens: documentation and test suites, not secrets."""
SECRET_FILE_NAMES = {
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    ".pgpass",
}
SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE
)
INTERESTING = (
    re.compile(r"^var/lib/dpkg/status$"),
    re.compile(r"/[^/]+\.dist-info/METADATA$"),
    re.compile(r"/node_modules/(?:@[^/]+/)?[^/]+/package\.json$"),
)


@dataclass(frozen=True)
class SecretFinding:
    layer: int
    path: str
    kind: str


@dataclass
class ImageScan:
    """One pass over every layer of one image."""

    reference: str
    paths: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    secrets: list[SecretFinding] = field(default_factory=list)
    layers: int = 0


def _layer_order(archive: tarfile.TarFile) -> list[str]:
    manifest = archive.extractfile("manifest.json")
    assert manifest is not None
    return list(json.load(manifest)[0]["Layers"])


def _scan_member(scan: ImageScan, layer: int, member: tarfile.TarInfo, data: bytes | None) -> None:
    name = PurePosixPath(member.name)
    if name.name in SECRET_FILE_NAMES:
        scan.secrets.append(SecretFinding(layer, member.name, f"credential file {name.name}"))
    if data is None or DOCUMENTATION.search(member.name):
        return
    for kind, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(data):
            if not any(example in match.group(0) for example in DOCUMENTED_EXAMPLES):
                scan.secrets.append(SecretFinding(layer, member.name, kind))
                break


WHITEOUT = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
"""OCI image layers: `.wh.NAME` deletes NAME of the layers below; `.wh..wh..opq` in a directory
hides everything the layers below put in it (the layer's own entries stay)."""


def _hide(scan: ImageScan, removed: str, *, keep: set[str]) -> None:
    """Drop `removed` (a path, or every path under a prefix ending in /) unless this layer made it."""

    def hidden(path: str) -> bool:
        gone = path.startswith(removed) if removed.endswith("/") else path == removed
        return gone and path not in keep

    scan.paths = {p for p in scan.paths if not hidden(p)}
    scan.files = {p: d for p, d in scan.files.items() if not hidden(p)}


def scan_image(client: DockerClient, reference: str) -> ImageScan:
    """Every file of every layer: final paths, the files the SBOM reads, secret findings."""
    scan = ImageScan(reference=reference)
    with tempfile.TemporaryDirectory(prefix="floe-scan-") as scratch:
        saved = Path(scratch) / "image.tar"
        client.image.save(reference, output=saved)
        with tarfile.open(saved) as archive:
            layers = _layer_order(archive)
            scan.layers = len(layers)
            for index, layer_name in enumerate(layers):
                blob = archive.extractfile(layer_name)
                assert blob is not None
                this_layer: set[str] = set()
                with tarfile.open(fileobj=blob, mode="r|*") as layer:
                    for member in layer:
                        path = member.name.removeprefix("./")
                        base = PurePosixPath(path)
                        if base.name == OPAQUE_WHITEOUT:
                            _hide(scan, f"{base.parent}/", keep=this_layer)
                            continue
                        if base.name.startswith(WHITEOUT):
                            removed = str(base.parent / base.name.removeprefix(WHITEOUT))
                            _hide(scan, removed, keep=this_layer)
                            _hide(scan, removed + "/", keep=this_layer)
                            continue
                        scan.paths.add(path)
                        this_layer.add(path)
                        data = None
                        if member.isfile() and member.size <= MAX_SCANNED_BYTES:
                            handle = layer.extractfile(member)
                            data = handle.read() if handle else None
                        _scan_member(scan, index, member, data)
                        if data is not None and any(p.search(path) for p in INTERESTING):
                            scan.files[path] = data
    return scan
