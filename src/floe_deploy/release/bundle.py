"""bundle.export and bundle.import: a release carried to a site without internet as one archive.

The archive is an OCI image layout (what `oras cp --to-oci-layout` writes) holding every image's
multi-arch index with both platforms, the chart and its dependency, cosign's signature and
attestation tags, and `floe-bundle.json`. An import checks every checksum, then every signature
and attestation offline (cosign verify-blob against the layout's bytes), and only then pushes:
by digest first, tags last, so a refused bundle leaves nothing in the target registry.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.artifact import push_chart_archive
from floe_deploy.helm.chart import CHART_DIR, chart_metadata
from floe_deploy.images.catalog import CATALOG
from floe_deploy.images.provenance import PREDICATE_TYPE as PROVENANCE_PREDICATE
from floe_deploy.images.publish import platform_manifests, repository
from floe_deploy.images.sbom import PREDICATE_TYPE as SBOM_PREDICATE
from floe_deploy.images.signing import Verifier, verify_attestation_blob, verify_signature_blob
from floe_deploy.oci import OciClient, host_of
from floe_deploy.release.bundle_manifest import (
    MANIFEST_NAME,
    ArtifactKind,
    BundledArtifact,
    BundleManifest,
    check_checksums,
    checksums,
    pack,
    read_manifest,
    sha256_file,
    unpack,
)
from floe_deploy.release.publish import (
    BundleRef,
    ReleasedChart,
    ReleasedImage,
    ReleaseRecord,
    chart_registry,
)
from floe_deploy.settings import Settings

COSIGN_SUFFIXES = {ArtifactKind.SIGNATURE: "sig", ArtifactKind.ATTESTATION: "att"}


class BundleExport(BaseModel):
    archive: str
    sha256: str
    size_bytes: int
    seconds: float
    version: str
    artifacts: list[BundledArtifact]
    record: str | None
    """the release record that now points at this bundle"""


class LandedArtifact(BaseModel):
    kind: str
    reference: str
    digest: str


class BundleImport(BaseModel):
    archive: str
    version: str
    target: str
    verified: list[str]
    """what was checked before the first push: one line per signature or attestation"""
    landed: list[LandedArtifact]
    seconds: float


def _cosign_tag(digest: str, kind: ArtifactKind) -> str:
    return f"{digest.replace(':', '-')}.{COSIGN_SUFFIXES[kind]}"


def source_prefix(record: ReleaseRecord) -> str:
    """The prefix the release's images live under (`acme/floe`), from its first image."""
    first = record.images[0]
    return first.repository.removeprefix(f"{record.registry}/").removesuffix(f"/{first.image}")


def record_from_registry(
    settings: Settings, version: str, oci: OciClient, images: list[str] | None = None
) -> ReleaseRecord:
    """A release record read back from the registry: each image's (default: the catalog's) and
    the chart's tag of `version`, for a release whose record file is not at hand."""
    released = []
    for image in images or [spec.name for spec in CATALOG]:
        repo = repository(settings, image)
        index = oci.resolve(f"{repo}:{version}")
        if index is None:
            raise FloeError(f"{repo}:{version} is not in {settings.registry}",
                            "check --registry, --prefix and --version, or pass --release")  # fmt: skip
        platforms = platform_manifests(oci, f"{repo}@{index.digest}")
        released.append(ReleasedImage(
            image=image, repository=repo, digest=index.digest, platforms=platforms,
            sboms={p: f"{repo}:{_cosign_tag(d, ArtifactKind.ATTESTATION)}" for p, d in platforms.items()},
            signature=f"{repo}:{_cosign_tag(index.digest, ArtifactKind.SIGNATURE)}",
            provenance=f"{repo}:{_cosign_tag(index.digest, ArtifactKind.ATTESTATION)}",
        ))  # fmt: skip
    name = str(chart_metadata(CHART_DIR)["name"])
    chart_reference = f"{chart_registry(settings)}/{name}:{version}"
    chart = oci.resolve(chart_reference)
    if chart is None:
        raise FloeError(f"{chart_reference} is not in the registry", "check --version")
    chart_repo = chart_reference.removeprefix("oci://").rsplit(":", 1)[0]
    return ReleaseRecord(
        version=version, tags=[version], git_commit="", registry=settings.registry, images=released,
        chart=ReleasedChart(reference=chart_reference, version=version, digest=chart.digest,
                            signature=f"{chart_repo}:{_cosign_tag(chart.digest, ArtifactKind.SIGNATURE)}"),
        published_at="",
    )  # fmt: skip


class _Exporter:
    """Copies artifacts from the source registry into one layout and lists them."""

    def __init__(self, oci: OciClient, layout: Path, registry: str, prefix: str) -> None:
        self.oci, self.layout, self.base = oci, layout, f"{registry}/{prefix}/"
        self.artifacts: list[BundledArtifact] = []
        self.charts: set[str] = set()

    def copy(self, kind: ArtifactKind, repo: str, digest: str, tag: str, **extra: Any) -> None:
        """`repo@digest` into the layout; it lands under the same path below the target's prefix
        (charts under `charts/`, wherever the source kept them)."""
        chart = kind in {ArtifactKind.CHART, ArtifactKind.DEPENDENCY} or repo in self.charts
        path = f"charts/{repo.rsplit('/', 1)[-1]}" if chart else repo.removeprefix(self.base)
        layout_name = f"{path.replace('/', '.')}__{tag}"
        self.oci.copy_to_layout(f"{repo}@{digest}", self.layout, layout_name)
        self.artifacts.append(BundledArtifact(kind=kind, repository=path, tag=tag, digest=digest,
                                              source=f"{repo}:{tag}", layout_name=layout_name, **extra))  # fmt: skip
        if kind is ArtifactKind.CHART:
            self.charts.add(repo)

    def cosign(self, kind: ArtifactKind, repo: str, subject: str) -> None:
        """cosign's signature or attestation tag on `subject`; a release without it is refused."""
        tag = _cosign_tag(subject, kind)
        found = self.oci.resolve(f"{repo}:{tag}")
        if found is None:
            raise FloeError(f"{repo}@{subject} has no {kind.value} ({repo}:{tag})",
                            "export a release that `invoke publish` signed and attested")  # fmt: skip
        self.copy(kind, repo, found.digest, tag, subject=subject)

    def dependency(self, charts: str, name: str, version: str, chart_dir: Path) -> None:
        """A chart dependency from the mirror `charts` (copied as it is there), else its archive
        in `chart_dir`'s charts/ (pushed into the layout as Helm's OCI artifact)."""
        reference = f"{charts}/{name}:{version}"
        found = self.oci.resolve(reference)
        if found is not None:
            self.copy(ArtifactKind.DEPENDENCY, f"{charts}/{name}", found.digest, version)
            return
        archive = chart_dir / "charts" / f"{name}-{version}.tgz"
        if not archive.is_file():
            raise FloeError(
                f"the chart's dependency {name} {version} is neither in {charts} nor in {archive.parent}",
                f"mirror it with `invoke helm.mirror --to oci://{charts}`, or fill charts/ with "
                "`invoke helm.deps` and pass --chart",
            )
        layout_name = f"charts.{name}__{version}"
        pushed = push_chart_archive(
            self.oci, archive, f"{self.layout}:{layout_name}", oci_layout=True
        )
        self.artifacts.append(BundledArtifact(
            kind=ArtifactKind.DEPENDENCY, repository=f"charts/{name}", tag=version, digest=pushed.digest,
            source=str(archive), layout_name=layout_name,
        ))  # fmt: skip


def _chart_dependencies(
    oci: OciClient, chart: ReleasedChart, scratch: Path
) -> list[dict[str, Any]]:
    """The dependencies the published chart pins (its config blob is its Chart.yaml)."""
    repo = chart.reference.removeprefix("oci://").rsplit(":", 1)[0]
    fetched = oci.fetch(f"{repo}@{chart.digest}")
    if fetched is None:
        raise FloeError(f"{chart.reference} is not in the registry", "check the release record")
    config = scratch / "chart-config.json"
    oci.fetch_blob(f"{repo}@{fetched[1]['config']['digest']}", config)
    dependencies: list[dict[str, Any]] = json.loads(config.read_text()).get("dependencies") or []
    return dependencies


def export_bundle(
    settings: Settings,
    record: ReleaseRecord,
    output: Path,
    console: Console,
    *,
    record_path: Path | None = None,
    chart_dir: Path = CHART_DIR,
    oci: OciClient | None = None,
) -> BundleExport:
    """Every artifact of `record` into one OCI layout archive at `output`; with `record_path`,
    the record file then points at the bundle. The chart's dependency comes from the chart
    mirror beside the chart, else from `chart_dir`'s charts/."""
    started = time.monotonic()
    oci = oci or OciClient.from_settings(settings)
    prefix = source_prefix(record)
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".floe-bundle-", dir=output.parent) as scratch:
        layout = Path(scratch) / "layout"
        exporter = _Exporter(oci, layout, record.registry, prefix)
        for image in record.images:
            with console.step(f"image {image.image} ({', '.join(sorted(image.platforms))}), "
                              "signature, SBOMs, provenance"):  # fmt: skip
                exporter.copy(ArtifactKind.IMAGE, image.repository, image.digest, record.version,
                              platforms=image.platforms)  # fmt: skip
                exporter.cosign(ArtifactKind.SIGNATURE, image.repository, image.digest)
                exporter.cosign(ArtifactKind.ATTESTATION, image.repository, image.digest)
                for digest in image.platforms.values():
                    exporter.cosign(ArtifactKind.ATTESTATION, image.repository, digest)
        chart_repo = record.chart.reference.removeprefix("oci://").rsplit(":", 1)[0]
        with console.step(f"chart {record.chart.reference} and its signature"):
            exporter.copy(ArtifactKind.CHART, chart_repo, record.chart.digest, record.chart.version)
            exporter.cosign(ArtifactKind.SIGNATURE, chart_repo, record.chart.digest)
        charts = chart_repo.rsplit("/", 1)[0]
        for dependency in _chart_dependencies(oci, record.chart, Path(scratch)):
            with console.step(f"dependency {dependency['name']} {dependency['version']}"):
                exporter.dependency(charts, str(dependency["name"]), str(dependency["version"]),
                                    chart_dir)  # fmt: skip
        with console.step(f"checksums and {output.name}"):
            manifest = BundleManifest(
                version=record.version, source_registry=record.registry, source_prefix=prefix,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                artifacts=exporter.artifacts, checksums=checksums(layout),
            )  # fmt: skip
            (layout / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
            pack(layout, output)
    digest = sha256_file(output)
    size = output.stat().st_size
    if record_path is not None:
        pointed = record.model_copy(
            update={"bundle": BundleRef(path=str(output), sha256=digest, size_bytes=size)}
        )
        record_path.write_text(pointed.model_dump_json(indent=2))
    return BundleExport(
        archive=str(output), sha256=digest, size_bytes=size,
        seconds=round(time.monotonic() - started, 2), version=record.version,
        artifacts=manifest.artifacts, record=str(record_path) if record_path else None,
    )  # fmt: skip


def _blob(root: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    path = root / "blobs" / algorithm / hex_digest
    if algorithm != "sha256" or not path.is_file():
        raise _refused(f"{digest} is not in the bundle")
    return path


def _refused(message: str) -> FloeError:
    return FloeError(
        f"bundle refused: {message}",
        "nothing was pushed; check --key / --certificate-identity against how the release was "
        "signed, or export the bundle again",
        exit_code=ExitCode.UNHEALTHY,
    )


def _layers(root: Path, artifact: BundledArtifact) -> list[dict[str, Any]]:
    """The layers of a signature or attestation manifest; one without any is refused."""
    body: dict[str, Any] = json.loads(_blob(root, artifact.digest).read_bytes())
    layers = list(body.get("layers") or [])
    if not layers:
        raise _refused(f"{artifact.layout_name} holds no {artifact.kind.value}")
    return layers


def _signed_digest(payload: Path) -> str:
    """The digest a cosign signature payload names (`critical.image.docker-manifest-digest`)."""
    try:
        return str(json.loads(payload.read_bytes())["critical"]["image"]["docker-manifest-digest"])
    except (ValueError, KeyError, TypeError):
        return "no digest"


def _builder(envelope: Path) -> str:
    """The builder a DSSE envelope's SLSA statement names."""
    try:
        statement = json.loads(base64.b64decode(json.loads(envelope.read_bytes())["payload"]))
        return str(statement["predicate"]["runDetails"]["builder"]["id"])
    except (ValueError, KeyError, TypeError):
        return "no builder"


def _verify_signature(
    root: Path, artifact: BundledArtifact, signature: BundledArtifact | None, verifier: Verifier,
    work: Path,
) -> str:  # fmt: skip
    what = f"{artifact.repository}@{artifact.digest[:19]}"
    if signature is None or signature.tag != _cosign_tag(artifact.digest, ArtifactKind.SIGNATURE):
        raise _refused(f"{what} carries no signature")
    for layer in _layers(root, signature):
        payload = _blob(root, layer["digest"])
        ok, detail = verify_signature_blob(verifier, payload, layer.get("annotations") or {}, work)
        if not ok:
            raise _refused(f"the signature of {what} does not verify ({detail})")
        if (named := _signed_digest(payload)) != artifact.digest:
            raise _refused(f"the signature of {what} is for {named}")
    return f"signature {what}: {detail}"


def _verify_attestation(
    root: Path, attestation: BundledArtifact, verifier: Verifier, work: Path
) -> list[tuple[str, str]]:
    """(predicate type, what verified) of each layer; the first that fails is refused."""
    subject = str(attestation.subject)
    what = f"{attestation.repository}@{subject[:19]}"
    if attestation.tag != _cosign_tag(subject, ArtifactKind.ATTESTATION):
        raise _refused(f"{attestation.layout_name} is not cosign's attestation tag of {what}")
    verified = []
    for layer in _layers(root, attestation):
        annotations = layer.get("annotations") or {}
        predicate = str(annotations.get("predicateType"))
        envelope = _blob(root, layer["digest"])
        subject_bytes = _blob(root, subject)
        ok, detail = verify_attestation_blob(verifier, envelope, annotations, subject_bytes, work)
        if not ok:
            raise _refused(f"the {predicate} attestation of {what} does not verify ({detail})")
        if predicate == PROVENANCE_PREDICATE and not verifier.accepts_builder(_builder(envelope)):
            raise _refused(f"the provenance of {what} names builder {_builder(envelope)}, "
                           f"not {verifier.identity}")  # fmt: skip
        verified.append((predicate, f"{predicate} {what}: {detail}"))
    return verified


def verify_bundle(root: Path, manifest: BundleManifest, verifier: Verifier) -> list[str]:
    """What images.verify asks of a release, offline: each image and the chart carry a signature
    for exactly their digest, each image a provenance and each platform a signed SBOM, and every
    signature and attestation verifies against the archive's bytes; else the first failure is
    named."""
    signatures = {a.subject: a for a in manifest.of_kind(ArtifactKind.SIGNATURE)}
    checked = []
    attested: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="floe-bundle-verify-") as scratch:
        work = Path(scratch)
        for artifact in [
            *manifest.of_kind(ArtifactKind.IMAGE),
            *manifest.of_kind(ArtifactKind.CHART),
        ]:
            checked.append(
                _verify_signature(root, artifact, signatures.get(artifact.digest), verifier, work)
            )
        for attestation in manifest.of_kind(ArtifactKind.ATTESTATION):
            for predicate, line in _verify_attestation(root, attestation, verifier, work):
                attested.setdefault(str(attestation.subject), set()).add(predicate)
                checked.append(line)
    for image in manifest.of_kind(ArtifactKind.IMAGE):
        required = [(image.digest, PROVENANCE_PREDICATE, "provenance")]
        required += [(d, SBOM_PREDICATE, f"{p} SBOM") for p, d in sorted(image.platforms.items())]
        for subject, predicate, name in required:
            if predicate not in attested.get(subject, set()):
                raise _refused(f"{image.repository}@{image.digest[:19]} has no signed {name}")
    return checked  # fmt: skip


def _landed_at(target: str, artifact: BundledArtifact) -> str:
    """Where an artifact is pulled from now: charts as Helm names them (`oci://…`)."""
    reference = f"{target}/{artifact.repository}:{artifact.tag}"
    chart = artifact.kind in {ArtifactKind.CHART, ArtifactKind.DEPENDENCY}
    return f"oci://{reference}" if chart else reference


def import_bundle(
    settings: Settings,
    archive: Path,
    to: str,
    verifier: Verifier,
    console: Console,
    *,
    oci: OciClient | None = None,
) -> BundleImport:
    """Check the checksums, then every signature and attestation, then push: by digest, cosign's
    tags, and the release tags last. Images keep their digests; charts land under `charts/`."""
    started = time.monotonic()
    oci = oci or OciClient.from_settings(settings)
    target = to.removeprefix("oci://").rstrip("/")
    if not target:
        raise FloeError("--to is required", "pass --to REGISTRY[/PREFIX]")
    with tempfile.TemporaryDirectory(prefix="floe-bundle-") as scratch:
        root = Path(scratch)
        with console.step(f"unpack {archive.name}"):
            unpack(archive, root)
            manifest = read_manifest(root)
        with console.step(f"checksums of {len(manifest.checksums)} files"):
            check_checksums(root, manifest)
        with console.step(f"signatures and attestations ({verifier.describe()})"):
            verified = verify_bundle(root, manifest, verifier)
        with console.step(f"access to {host_of(target)}"):
            oci.check(host_of(target), f"{target.partition('/')[2] or 'floe'}/access-check")
        for artifact in manifest.artifacts:
            repo = f"{target}/{artifact.repository}"
            with console.step(f"push {artifact.kind.value} {repo}@{artifact.digest[:19]}"):
                oci.copy_from_layout(root, artifact.digest, f"{repo}@{artifact.digest}")
        ordered = sorted(manifest.artifacts, key=lambda a: a.kind not in COSIGN_SUFFIXES)
        with console.step("tags: signatures and attestations, then the release's"):
            for artifact in ordered:
                oci.tag(f"{target}/{artifact.repository}@{artifact.digest}", [artifact.tag])
        landed = [
            LandedArtifact(kind=a.kind.value, reference=_landed_at(target, a), digest=a.digest)
            for a in manifest.artifacts
        ]
    return BundleImport(
        archive=str(archive), version=manifest.version, target=target, verified=verified,
        landed=landed, seconds=round(time.monotonic() - started, 2),
    )  # fmt: skip


def load_record(path: Path) -> ReleaseRecord:
    """The release record `invoke publish --json` (or build/release/<version>.json) holds."""
    if not path.is_file():
        raise FloeError(f"{path} does not exist", "pass the release.json `invoke publish` wrote")
    return ReleaseRecord.model_validate_json(path.read_text())
