"""helm.package, helm.publish and helm.verify: the chart as a versioned archive in an OCI registry,
signed by digest with cosign like the images."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import helm_python
from pydantic import BaseModel

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, require_dependencies
from floe_deploy.helm.dependencies import oci_host
from floe_deploy.images.registry_api import plain_http
from floe_deploy.images.signing import dev_key_pair, sign, verify_signature
from floe_deploy.images.versioning import release_version
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.settings import Settings

PACKAGE_DIR = BUILD_DIR / "charts"


class PackagedChart(BaseModel):
    name: str
    version: str
    app_version: str
    archive: str
    digest: str


class PublishedChart(BaseModel):
    name: str
    version: str
    reference: str
    digest: str
    signed: bool


class VerifiedChart(BaseModel):
    reference: str
    digest: str | None
    signature_ok: bool
    detail: str


def package_chart(
    chart_dir: Path = CHART_DIR, destination: Path = PACKAGE_DIR, version: str | None = None
) -> PackagedChart:
    """Package with version and appVersion from git (or `version`), dependencies included."""
    require_dependencies(chart_dir)
    chosen = version or release_version(PROJECT_ROOT).version
    destination.mkdir(parents=True, exist_ok=True)
    try:
        archive = helm_python.package(
            str(chart_dir), destination=str(destination), version=chosen, app_version=chosen
        )
    except helm_python.HelmError as error:
        raise FloeError(f"packaging failed: {error}", "run `invoke helm.lint`") from None
    name = str(chart_metadata(chart_dir)["name"])
    return PackagedChart(
        name=name,
        version=chosen,
        app_version=chosen,
        archive=archive,
        digest=helm_python.digest(archive),
    )


def _remote(registry: str) -> str:
    if not registry.startswith("oci://"):
        raise FloeError(
            f"registry {registry!r} is not an oci:// reference",
            "write --registry oci://HOST[:PORT]/charts",
        )
    oci_host(registry)
    return registry.rstrip("/")


def publish_chart(
    settings: Settings,
    registry: str,
    packaged: PackagedChart,
    key: Path | None = None,
    *,
    force: bool = False,
) -> PublishedChart:
    """Push the archive, then sign its manifest digest; an existing version is refused unless `force`."""
    remote = _remote(registry)
    reference = f"{remote}/{packaged.name}:{packaged.version}"
    client = helm_python.RegistryClient(plain_http=plain_http(oci_host(remote)))
    try:
        try:
            existing = client.tags(f"{remote}/{packaged.name}")
        except helm_python.HelmError:
            existing = []
        if packaged.version in existing and not force:
            raise FloeError(
                f"{reference} already exists; a published chart version is never replaced",
                "bump the version (a new commit or tag), or pass --force for a development registry",
            )
        client.push(packaged.archive, remote)
        digest = str(client.resolve(reference)["digest"])
    except helm_python.HelmError as error:
        raise FloeError(
            f"pushing {reference} failed: {str(error).splitlines()[0]}",
            "is the registry up? `invoke platform.status`",
        ) from None
    finally:
        client.close()
    sign(_digest_reference(reference, digest), key or dev_key_pair(settings)[0])
    return PublishedChart(
        name=packaged.name,
        version=packaged.version,
        reference=reference,
        digest=digest,
        signed=True,
    )


def _digest_reference(reference: str, digest: str) -> str:
    """`oci://host/charts/name:1.0` + digest → `host/charts/name@sha256:…` (what cosign signs)."""
    return f"{reference.removeprefix('oci://').rsplit(':', 1)[0]}@{digest}"


def verify_chart(
    settings: Settings, reference: str, public_key: Path | None = None
) -> VerifiedChart:
    """The chart's manifest exists and carries a valid cosign signature."""
    if not reference.startswith("oci://") or ":" not in reference.rsplit("/", 1)[-1]:
        raise FloeError(
            f"{reference!r} is not oci://HOST/PATH/CHART:VERSION", "name the chart with its version"
        )
    client = helm_python.RegistryClient(plain_http=plain_http(oci_host(reference)))
    try:
        digest = str(client.resolve(reference)["digest"])
    except helm_python.HelmError as error:
        return VerifiedChart(
            reference=reference, digest=None, signature_ok=False, detail=f"not found: {error}"
        )
    finally:
        client.close()
    key = public_key or dev_key_pair(settings)[1]
    ok, detail = verify_signature(_digest_reference(reference, digest), key)
    return VerifiedChart(reference=reference, digest=digest, signature_ok=ok, detail=detail)


def lint_chart(
    chart_dir: Path = CHART_DIR, values: dict[str, object] | None = None
) -> dict[str, object]:
    """`helm lint --strict` through the SDK, on a copy with the symlinked files resolved."""
    with tempfile.TemporaryDirectory(prefix="floe-helm-lint-") as scratch:
        copy = Path(scratch) / chart_dir.name
        shutil.copytree(chart_dir, copy)
        try:
            return helm_python.lint(str(copy), values or {}, strict=True, with_subcharts=False)
        except helm_python.HelmError as error:
            raise FloeError(
                f"lint failed: {error}", "fix the chart", exit_code=ExitCode.FAILURE
            ) from None
