"""floe-bundle.json and its checksums: what `bundle.import` checks before it reads any artifact.

A bundle here is a small layout of files packed with the toolkit's own `pack`; each fault is made
in the archive itself (a changed, removed or added file, no manifest, another format, a path out
of the archive) and must be refused naming what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.release.bundle_manifest import (
    BUNDLE_FORMAT,
    MANIFEST_NAME,
    ArtifactKind,
    BundledArtifact,
    BundleManifest,
    check_checksums,
    checksums,
    pack,
    read_manifest,
    unpack,
)

pytestmark = pytest.mark.requirement("007-FR-058", evidence="real")

BLOB = "blobs/sha256/" + "ab" * 32


def _bundle(directory: Path) -> Path:
    """A packed bundle of three files and its manifest."""
    layout = directory / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    (layout / BLOB).write_bytes(b"layer bytes")
    manifest = BundleManifest(
        version="1.2.3",
        source_registry="127.0.0.1:5000",
        source_prefix="floe",
        created_at="2026-12-07T08:00:00+00:00",
        artifacts=[
            BundledArtifact(
                kind=ArtifactKind.IMAGE,
                repository="dagster",
                tag="1.2.3",
                digest="sha256:" + "ab" * 32,
                source="127.0.0.1:5000/floe/dagster:1.2.3",
                layout_name="dagster__1.2.3",
            )
        ],
        checksums=checksums(layout),
    )
    (layout / MANIFEST_NAME).write_text(manifest.model_dump_json())
    archive = directory / "bundle.tar"
    pack(layout, archive)
    return archive


def _rewrite(archive: Path, change: dict[str, bytes | None]) -> Path:
    """The archive with members replaced (bytes), removed (None) or added."""
    members: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            members[member.name] = extracted.read()
    for name, data in change.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    changed = archive.with_name("changed.tar")
    with tarfile.open(changed, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return changed


def _import_checks(archive: Path, directory: Path) -> BundleManifest:
    """What bundle.import does first: unpack, read the manifest, check every checksum."""
    root = unpack(archive, directory / "unpacked")
    manifest = read_manifest(root)
    check_checksums(root, manifest)
    return manifest


def test_an_intact_bundle_lists_every_file_but_its_manifest(tmp_path: Path) -> None:
    manifest = _import_checks(_bundle(tmp_path), tmp_path)
    assert set(manifest.checksums) == {"oci-layout", "index.json", BLOB}
    assert manifest.checksums[BLOB] == hashlib.sha256(b"layer bytes").hexdigest()
    assert manifest.of_kind(ArtifactKind.IMAGE)[0].repository == "dagster"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({BLOB: b"layer bytez"}, f"{BLOB} does not match its checksum"),
        ({"index.json": None}, "index.json is missing from the bundle"),
        ({"blobs/sha256/planted": b"x"}, "blobs/sha256/planted is in the bundle but not in its manifest"),
    ],
    ids=["changed", "removed", "added"],
)  # fmt: skip
def test_a_tampered_file_is_refused_by_name(
    change: dict[str, bytes | None], named: str, tmp_path: Path
) -> None:
    with pytest.raises(FloeError) as caught:
        _import_checks(_rewrite(_bundle(tmp_path), change), tmp_path)
    assert caught.value.message == f"bundle refused: {named}" or caught.value.message.startswith(
        f"bundle refused: {named} ("
    )
    assert caught.value.exit_code is ExitCode.UNHEALTHY
    assert "nothing was pushed" in caught.value.remediation


def test_an_archive_without_a_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(FloeError, match=f"not a floe bundle: {MANIFEST_NAME} is missing"):
        _import_checks(_rewrite(_bundle(tmp_path), {MANIFEST_NAME: None}), tmp_path)


def test_a_bundle_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    archive = _bundle(tmp_path)
    with tarfile.open(archive) as tar:
        extracted = tar.extractfile(MANIFEST_NAME)
        assert extracted is not None
        manifest = json.loads(extracted.read())
    manifest["format"] = BUNDLE_FORMAT + 1
    with pytest.raises(FloeError, match=f"bundle format {BUNDLE_FORMAT + 1} is unknown") as caught:
        _import_checks(_rewrite(archive, {MANIFEST_NAME: json.dumps(manifest).encode()}), tmp_path)
    assert caught.value.exit_code is ExitCode.USAGE


def test_a_manifest_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FloeError, match=f"{MANIFEST_NAME} is not a bundle manifest"):
        _import_checks(_rewrite(_bundle(tmp_path), {MANIFEST_NAME: b'{"version": 1}'}), tmp_path)


def test_a_member_outside_the_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FloeError, match=r"bundle refused: changed\.tar is not a readable tar"):
        _import_checks(_rewrite(_bundle(tmp_path), {"../escaped": b"x"}), tmp_path)
    assert not (tmp_path / "escaped").exists()
