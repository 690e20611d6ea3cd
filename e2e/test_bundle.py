"""The offline bundle end to end: a signed two-platform release in one local registry, exported
with `invoke bundle.export`, imported with `invoke bundle.import` into a second registry with TLS
from its own CA and htpasswd logins (Debian's distribution registry), and verified there.

The full release of e2e/test_images.py takes an hour to build; this module publishes a minimal
one with the project's own publish functions instead (floe_deploy.testing.bundles): two tiny
images built for linux/amd64 and linux/arm64, each with its signed SBOM per platform, signed
provenance and signature; the chart (with the labelled dagster stand-in, mirrored beside it)
signed. It writes build/reports/bundle.json for benchmarks/bench_bundle.py. The offline install
from a bundle of the platform's own images is e2e/test_helm_smoke.py's.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.helm.artifact import archive_metadata, pull_chart_archive
from floe_deploy.images.build import BuildReport, BuiltImage
from floe_deploy.images.publish import verify_images
from floe_deploy.images.signing import Verifier, key_pair
from floe_deploy.oci import OciClient
from floe_deploy.release.bundle import record_from_registry
from floe_deploy.release.bundle_manifest import MANIFEST_NAME
from floe_deploy.release.publish import ReleaseRecord
from floe_deploy.settings import load_settings
from floe_deploy.testing import BUNDLE_REPORT, run_task
from floe_deploy.testing.bundles import stage_release
from floe_deploy.testing.registries import (
    PrivateRegistry,
    registry_process,
    write_docker_login,
)

pytestmark = [pytest.mark.requirement("007-FR-058", evidence="real"), pytest.mark.timeout(600)]

VERSION = "7.7.7"
PREFIX = "acme/floe"
IMAGES = ("bundle-a", "bundle-b")
PLATFORMS = ("linux/amd64", "linux/arm64")
RELEASE = "minimal: two FROM-scratch images, the chart with the dagster stand-in"
"""What the bundle measured holds (bench_bundle says so beside its numbers)."""
IMPOSTOR = "https://github.com/acme/floe/.github/workflows/release.yml@refs/tags/v7.7.7"
"""A builder identity the release's provenance does not name (it was built here)."""


@dataclass(frozen=True)
class Site:
    """The two sides: the release's registry, the air-gapped site's private one, the keys."""

    source: PrivateRegistry
    target: PrivateRegistry
    record_file: Path
    record: ReleaseRecord
    public_key: Path
    chart_dir: Path
    """the chart the release packaged, the dagster stand-in's archive in its charts/"""
    env: dict[str, str]
    """DOCKER_CONFIG (the target's login) and COSIGN_PASSWORD for the task processes"""


def _tiny_images(docker: DockerClient, directory: Path) -> BuildReport:
    """Two images for both platforms, FROM scratch (no emulation needed to build arm64)."""
    built = []
    for image in IMAGES:
        context = directory / image
        context.mkdir(parents=True)
        (context / "hello").write_text(f"{image}\n")
        (context / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
        for platform in PLATFORMS:
            tag = f"floe-test/{image}:{VERSION}-{platform.split('/')[1]}"
            docker.buildx.build(context, tags=[tag], platforms=[platform], load=True,
                                labels=TEST_IMAGE_LABELS)  # fmt: skip
            inspected = docker.image.inspect(tag)
            built.append(BuiltImage(image=image, platform=platform, reference=tag,
                                    image_id=inspected.id, size_bytes=inspected.size, seconds=0))  # fmt: skip
    return BuildReport(tag=VERSION, images=built)


@pytest.fixture(scope="module")
def site(docker: DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("bundle")
    with (
        registry_process(root / "source", private=False) as source,
        registry_process(root / "target") as target,
        pytest.MonkeyPatch.context() as patch,
    ):
        config = root / "docker"
        write_docker_login(config, target.address, target.files.username, target.files.password)
        env = {"DOCKER_CONFIG": str(config), "COSIGN_PASSWORD": ""}
        for name, value in env.items():
            patch.setenv(name, value)
        release = stage_release(root, source.address, PREFIX,
                                _tiny_images(docker, root / "images"), VERSION)  # fmt: skip
        yield Site(source, target, release.record_file, release.record, release.public_key,
                   release.chart_dir, env)  # fmt: skip


def _catalog(registry: PrivateRegistry) -> list[str]:
    """Every repository the registry holds, asked over its TLS with its login."""
    files = registry.files
    answer = httpx.get(f"https://{registry.address}/v2/_catalog",
                       verify=ssl.create_default_context(cafile=files.ca_file),
                       auth=(files.username, files.password), timeout=10)  # fmt: skip
    answer.raise_for_status()
    repositories: list[str] = answer.json()["repositories"]
    return repositories


@dataclass(frozen=True)
class Imported:
    archive: Path
    export: dict[str, Any]
    landed: dict[str, Any]


@pytest.fixture(scope="module")
def imported(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """Export with the record (the source is a loopback registry), import with the key."""
    archive = tmp_path_factory.mktemp("archive") / "floe-bundle.tar"
    started = time.monotonic()
    exported = run_task("bundle.export", "--release", str(site.record_file), "--output",
                        str(archive), "--json", env=site.env)  # fmt: skip
    export_seconds = time.monotonic() - started
    assert exported.returncode == 0, exported.stderr[-3000:]
    started = time.monotonic()
    landed = run_task("bundle.import", str(archive), "--to", f"{site.target.address}/site/floe",
                      "--key", str(site.public_key), "--json",
                      env=site.env | {"FLOE_REGISTRY_CA": str(site.target.files.ca_file)})  # fmt: skip
    import_seconds = time.monotonic() - started
    assert landed.returncode == 0, landed.stderr[-3000:]
    BUNDLE_REPORT.parent.mkdir(parents=True, exist_ok=True)
    BUNDLE_REPORT.write_text(json.dumps({
        "version": VERSION, "release": RELEASE, "images": len(IMAGES), "platforms": list(PLATFORMS),
        "size_bytes": archive.stat().st_size, "export_seconds": round(export_seconds, 2),
        "import_seconds": round(import_seconds, 2),
    }, indent=2))  # fmt: skip
    return Imported(archive, json.loads(exported.stdout), json.loads(landed.stdout))


def test_the_bundle_holds_every_platform_signature_attestation_and_both_charts(
    site: Site, imported: Imported
) -> None:
    with tarfile.open(imported.archive) as tar:
        names = set(tar.getnames())
        member = tar.extractfile(MANIFEST_NAME)
        assert member is not None
        manifest = json.loads(member.read())
    assert {"oci-layout", "index.json", MANIFEST_NAME} <= names
    assert set(manifest["checksums"]) == names - {MANIFEST_NAME}
    kinds: dict[str, list[dict[str, Any]]] = {}
    for artifact in manifest["artifacts"]:
        kinds.setdefault(artifact["kind"], []).append(artifact)
    images = {a["repository"]: a for a in kinds["image"]}
    assert set(images) == set(IMAGES)
    for entry in site.record.images:
        assert images[entry.image]["digest"] == entry.digest
        assert images[entry.image]["platforms"] == entry.platforms
        for digest in entry.platforms.values():  # both platform manifests are in the layout
            assert f"blobs/sha256/{digest.removeprefix('sha256:')}" in names
    subjects = {a["subject"] for a in kinds["attestation"]}
    for entry in site.record.images:
        assert {entry.digest, *entry.platforms.values()} <= subjects  # provenance, SBOM each
    assert {a["subject"] for a in kinds["signature"]} == {
        *(e.digest for e in site.record.images),
        site.record.chart.digest,
    }
    assert [(c["repository"], c["digest"]) for c in kinds["chart"]] == [
        ("charts/floe-dagster", site.record.chart.digest)
    ]
    assert [(c["repository"], c["tag"]) for c in kinds["dependency-chart"]] == [
        ("charts/dagster", "1.13.27")
    ]
    pointed = ReleaseRecord.model_validate_json(site.record_file.read_text())
    assert pointed.bundle is not None
    assert pointed.bundle.sha256 == imported.export["sha256"]
    assert pointed.bundle.size_bytes == imported.archive.stat().st_size


def test_without_a_record_the_release_is_read_back_from_the_registry(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `bundle.export --registry --prefix --version` exports: the same artifacts as the record."""
    monkeypatch.setenv("DOCKER_CONFIG", site.env["DOCKER_CONFIG"])
    settings = load_settings(registry=site.source.address, image_prefix=PREFIX, registry_ca="")
    read = record_from_registry(settings, VERSION, OciClient(), list(IMAGES))
    fields = {"images", "chart", "registry", "version"}
    assert read.model_dump(include=fields) == site.record.model_dump(include=fields)


def test_the_import_lands_everything_with_its_digest_and_it_verifies_there(
    site: Site, imported: Imported, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """images.verify's own check against the target, with the same key: signature, a signed
    SBOM per platform, provenance; the chart pulls; the digests are the release's."""
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)
    ca_file = site.target.files.ca_file
    target = f"{site.target.address}/site/floe"
    settings = load_settings(registry=site.target.address, image_prefix="site/floe",
                             registry_ca=str(ca_file))  # fmt: skip
    report = verify_images(settings, list(IMAGES), VERSION, Verifier(public_key=site.public_key))
    assert report.ok, report
    for verified, entry in zip(report.images, site.record.images, strict=True):
        assert verified.digest == entry.digest
        assert verified.sboms == dict.fromkeys(PLATFORMS, True)
    oci = OciClient(ca_file=ca_file)
    chart = pull_chart_archive(oci, f"{target}/charts/floe-dagster:{VERSION}", tmp_path)
    assert archive_metadata(chart)["version"] == VERSION
    resolved = oci.resolve(f"{target}/charts/floe-dagster:{VERSION}")
    assert resolved is not None
    assert resolved.digest == site.record.chart.digest
    dependency = pull_chart_archive(oci, f"{target}/charts/dagster:1.13.27", tmp_path)
    assert archive_metadata(dependency)["name"] == "dagster"
    verified = imported.landed["verified"]
    for entry in site.record.images:
        for digest in entry.platforms.values():  # a signed SBOM and provenance per platform
            for predicate in ("https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"):
                assert any(v.startswith(f"{predicate} {entry.image}@{digest[:19]}: signed by")
                           for v in verified), (predicate, entry.image, verified)  # fmt: skip
        assert f"signature {entry.image}@{entry.digest[:19]}: signed by cosign.pub" in verified
    landed = {a["reference"] for a in imported.landed["landed"]}
    assert f"oci://{target}/charts/floe-dagster:{VERSION}" in landed
    assert {f"{target}/{image}:{VERSION}" for image in IMAGES} <= landed


def test_a_dependency_missing_from_the_chart_mirror_comes_from_charts(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same chart (and its signature) under a prefix whose chart mirror is empty: the export
    takes the dagster chart from --chart's charts/, and the import lands it under charts/."""
    monkeypatch.setenv("DOCKER_CONFIG", site.env["DOCKER_CONFIG"])
    chart = site.record.chart
    moved = chart.reference.replace(f"/{PREFIX}/", "/acme/no-mirror/")
    repo, moved_repo = (
        r.removeprefix("oci://").rsplit(":", 1)[0] for r in (chart.reference, moved)
    )
    source = OciClient()
    source.copy(f"{repo}@{chart.digest}", f"{moved_repo}:{chart.version}", recursive=False)
    signature = f"{chart.digest.replace(':', '-')}.sig"
    source.copy(f"{repo}:{signature}", f"{moved_repo}:{signature}", recursive=False)
    record = tmp_path / "release.json"
    record.write_text(
        site.record.model_copy(
            update={
                "chart": chart.model_copy(
                    update={"reference": moved, "signature": f"{moved_repo}:{signature}"}
                )
            }
        ).model_dump_json()
    )
    archive = tmp_path / "bundle.tar"
    exported = run_task("bundle.export", "--release", str(record), "--output", str(archive),
                        "--chart", str(site.chart_dir), "--json", env=site.env)  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    (dependency,) = [a for a in json.loads(exported.stdout)["artifacts"]
                     if a["kind"] == "dependency-chart"]  # fmt: skip
    assert dependency["source"] == str(site.chart_dir / "charts" / "dagster-1.13.27.tgz")
    assert dependency["repository"] == "charts/dagster"
    landed = run_task("bundle.import", str(archive), "--to", f"{site.target.address}/fallback",
                      "--key", str(site.public_key),
                      env=site.env | {"FLOE_REGISTRY_CA": str(site.target.files.ca_file)})  # fmt: skip
    assert landed.returncode == 0, landed.stderr[-3000:]
    target = OciClient(ca_file=site.target.files.ca_file)
    pulled = pull_chart_archive(
        target, f"{site.target.address}/fallback/charts/dagster:1.13.27", tmp_path / "pulled"
    )
    assert archive_metadata(pulled)["name"] == "dagster"
    no_chart = run_task("bundle.export", "--release", str(record), "--output", str(archive),
                        "--chart", str(tmp_path), env=site.env)  # fmt: skip
    assert no_chart.returncode == 2, no_chart.stderr
    assert "dependency dagster 1.13.27 is neither in" in no_chart.stderr


def _tampered(archive: Path, directory: Path, fault: str, arm64: str) -> tuple[Path, str]:
    """The archive with one byte of the chart's layer changed, or with the arm64 manifest's
    attestation (its SBOM) left out of floe-bundle.json; returns it and what the refusal names."""
    unpacked = directory / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    manifest = json.loads((unpacked / MANIFEST_NAME).read_text())
    if fault == "stripped SBOM":
        manifest["artifacts"] = [a for a in manifest["artifacts"] if a.get("subject") != arm64]
        (unpacked / MANIFEST_NAME).write_text(json.dumps(manifest))
        named = "has no signed linux/arm64 SBOM"
    else:
        (chart,) = [a for a in manifest["artifacts"] if a["kind"] == "chart"]
        body = json.loads((unpacked / "blobs/sha256" / chart["digest"].split(":")[1]).read_text())
        named = f"blobs/sha256/{body['layers'][0]['digest'].split(':')[1]}"
        data = bytearray((unpacked / named).read_bytes())
        data[-1] ^= 0xFF
        (unpacked / named).write_bytes(bytes(data))
        named += " does not match its checksum"
    tampered = directory / "tampered.tar"
    with tarfile.open(tampered, "w") as tar:
        for path in sorted(unpacked.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(unpacked).as_posix())
    shutil.rmtree(unpacked)
    return tampered, named


@pytest.mark.parametrize("fault", ["tampered blob", "stripped SBOM", "wrong key", "wrong builder"])
def test_a_tampered_archive_or_a_wrong_key_is_refused_before_anything_is_pushed(
    fault: str, site: Site, imported: Imported, tmp_path: Path
) -> None:
    prefix = fault.replace(" ", "-")
    archive, named = imported.archive, ""
    key, identity = site.public_key, []
    if fault in {"tampered blob", "stripped SBOM"}:
        arm64 = site.record.images[0].platforms["linux/arm64"]
        archive, named = _tampered(imported.archive, tmp_path, fault, arm64)
    elif fault == "wrong key":
        key = key_pair(tmp_path / "other", "")[1]
    else:
        identity = ["--certificate-identity", IMPOSTOR]
    done = run_task("bundle.import", str(archive), "--to", f"{site.target.address}/{prefix}",
                    "--key", str(key), *identity,
                    env=site.env | {"FLOE_REGISTRY_CA": str(site.target.files.ca_file)})  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("ERROR: bundle refused: ")
    if fault in {"tampered blob", "stripped SBOM"}:
        assert named in line
    elif fault == "wrong key":
        assert "the signature of bundle-a@" in line
        assert "does not verify" in line
    else:  # every signature holds; the signed provenance names another builder
        assert re.search(
            rf"the provenance of bundle-a@sha256:\w+ names builder \S+, not {IMPOSTOR}", line
        )
    assert "nothing was pushed" in line
    assert not [r for r in _catalog(site.target) if r.startswith(f"{prefix}/")]
    assert [r for r in _catalog(site.target) if r.startswith("site/floe/")]
