"""images.build: one buildx build per image and platform, loaded under per-platform tags.

The builder here (BuildKit inside dockerd, buildx `docker` driver) does one platform per build,
so multi-arch images are built platform by platform; publish joins them with a manifest list.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.console import Console
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.base import arch_of, base_present, base_reference
from floe_deploy.images.base import prepare_context as prepare_base_context
from floe_deploy.images.catalog import (
    BASE_IMAGE,
    CATALOG,
    UPSTREAM_PYTHON_BASE,
    ImageKind,
    ImageSpec,
    image_spec,
)
from floe_deploy.images.source import ResolvedSource, mirrored, resolve_source
from floe_deploy.images.versioning import ReleaseVersion, release_version
from floe_deploy.images.wheels import prepare_context as prepare_python_context
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.platform.emulation import host_is_arm64
from floe_deploy.platform.engine import docker_client, engine_reachable
from floe_deploy.settings import Settings

HOST_CA_BUNDLES = (
    Path("/etc/ssl/certs/ca-certificates.crt"),
    Path("/etc/pki/tls/certs/ca-bundle.crt"),
)
IMAGE_LABEL = "org.floe-deploy.image"


class BuildTarget(BaseModel):
    image: str
    platform: str
    reference: str
    build_args: dict[str, str]


class BuildPlan(BaseModel):
    """What images.build will do; `--dry-run` prints it and stops."""

    version: ReleaseVersion
    tag: str
    source: ResolvedSource
    targets: list[BuildTarget]
    no_cache: bool = False
    ca_bundle: Path | None


class BuiltImage(BaseModel):
    image: str
    platform: str
    reference: str
    image_id: str
    size_bytes: int
    seconds: float
    cached: bool = False
    pushed_reference: str | None = None
    digest: str | None = None
    base_images: dict[str, str] = {}
    """Base images this build started FROM: reference → `name@sha256:…` as pulled from a registry,
    or the image id of a base built here (for provenance)."""


def base_identity(client: DockerClient, reference: str) -> str:
    """The registry digest a base image was pulled by, else (built here) its image id."""
    image = client.image.inspect(reference)
    return (image.repo_digests or [image.id])[0]


class BuildReport(BaseModel):
    tag: str
    images: list[BuiltImage]


def default_ca_bundle() -> Path | None:
    """The host's CA bundle: package indexes inside builds verify TLS only against it here."""
    configured = os.environ.get("SSL_CERT_FILE")
    for candidate in ([Path(configured)] if configured else []) + list(HOST_CA_BUNDLES):
        if candidate.is_file():
            return candidate
    return None


def host_platform() -> str:
    """The platform builds run natively on; stages marked `--platform=$BUILDPLATFORM` use it."""
    return "linux/arm64" if host_is_arm64() else "linux/amd64"


def local_reference(settings: Settings, image: str, tag: str, platform: str) -> str:
    """Per-platform local tag: a multi-arch tag can't live in the engine's store here."""
    return f"{settings.image_prefix}/{image}:{tag}-{arch_of(platform)}"


def needs_golden_base(spec: ImageSpec, source: ResolvedSource) -> bool:
    """Service images always build FROM the golden base; the runtime image only when hermetic."""
    return spec.kind is ImageKind.SERVICE or (
        spec.kind is ImageKind.RUNTIME and source is ResolvedSource.HERMETIC
    )


def selected_images(names: list[str] | None, source: ResolvedSource) -> list[ImageSpec]:
    """The named images (all when none), with the golden base first when any image needs it."""
    specs = [image_spec(name) for name in dict.fromkeys(names)] if names else list(CATALOG)
    if any(needs_golden_base(s, source) for s in specs) and not any(
        s.kind is ImageKind.BASE for s in specs
    ):
        specs.insert(0, image_spec(BASE_IMAGE))
    return sorted(specs, key=lambda spec: spec.kind is not ImageKind.BASE)


def plan_build(
    settings: Settings,
    images: list[str] | None = None,
    *,
    tag: str | None = None,
    ca_bundle: Path | None = None,
    no_cache: bool = False,
    version: ReleaseVersion | None = None,
) -> BuildPlan:
    if ca_bundle is not None and not ca_bundle.is_file():
        raise FloeError(
            f"CA bundle {ca_bundle} does not exist", "pass --ca-bundle PATH to a PEM file"
        )
    version = version or release_version(PROJECT_ROOT)
    chosen_tag = tag or version.version
    build_platform = host_platform()
    source = resolve_source(settings)
    targets = []
    for spec in selected_images(images, source):
        platforms = list(settings.platforms)
        if spec.kind is ImageKind.BASE and build_platform not in platforms:
            platforms.insert(0, build_platform)
        for platform in platforms:
            if spec.kind is ImageKind.BASE:
                reference = base_reference(settings, platform)
                build_args: dict[str, str] = {}
            elif not needs_golden_base(spec, source):
                reference = local_reference(settings, spec.name, chosen_tag, platform)
                upstream = mirrored(
                    UPSTREAM_PYTHON_BASE.format(python_version=settings.python_version),
                    settings.mirror,
                )
                build_args = {"BASE_IMAGE": upstream, "BUILD_BASE_IMAGE": upstream}
            else:
                reference = local_reference(settings, spec.name, chosen_tag, platform)
                build_args = {
                    "BASE_IMAGE": base_reference(settings, platform),
                    "BUILD_BASE_IMAGE": base_reference(settings, build_platform),
                }
            targets.append(
                BuildTarget(
                    image=spec.name, platform=platform, reference=reference, build_args=build_args
                )
            )
    return BuildPlan(
        version=version,
        tag=chosen_tag,
        source=source,
        no_cache=no_cache,
        targets=targets,
        ca_bundle=ca_bundle or settings.ca_bundle or default_ca_bundle(),
    )


def oci_labels(spec: ImageSpec, version: ReleaseVersion, tag: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": f"floe {spec.name}",
        "org.opencontainers.image.description": spec.description,
        "org.opencontainers.image.source": "https://github.com/floe-platform/floe-deploy",
        "org.opencontainers.image.revision": version.revision,
        "org.opencontainers.image.version": tag,
        "org.opencontainers.image.created": (version.committed or datetime.now(UTC)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        IMAGE_LABEL: spec.name,
    }


def _build_target(
    client: DockerClient,
    settings: Settings,
    plan: BuildPlan,
    target: BuildTarget,
    contexts: dict[str, Path],
) -> BuiltImage:
    spec = image_spec(target.image)
    started = time.monotonic()
    if spec.kind is ImageKind.BASE and base_present(client, target.reference):
        cached = True
    else:
        cached = False
        context = contexts.get(spec.name, spec.context)
        if spec.kind is ImageKind.BASE:
            context = settings.state_dir / "base" / target.reference.rsplit(":", 1)[1]
            prepare_base_context(settings, target.platform, context)
        secrets = (
            [f"id=cacert,src={plan.ca_bundle}"] if spec.needs_network and plan.ca_bundle else []
        )
        try:
            client.buildx.build(
                context,
                file=spec.dockerfile,
                tags=[target.reference],
                platforms=[target.platform],
                build_args=target.build_args
                | {"TARGETARCH": arch_of(target.platform), "BUILDARCH": arch_of(host_platform())},
                labels=oci_labels(spec, plan.version, plan.tag),
                network="host" if spec.needs_network else None,
                secrets=secrets,
                load=True,
                cache=not plan.no_cache,
                progress=False,
            )
        except DockerException as error:
            raise FloeError(
                f"building {target.image} for {target.platform} failed",
                f"read the build output above; rerun with `invoke images.build --image {target.image}`",
                exit_code=ExitCode.FAILURE,
                details=(error.stderr or error.stdout or "")[-4000:],
            ) from None
    image = client.image.inspect(target.reference)
    bases = sorted({v for k, v in target.build_args.items() if k.endswith("BASE_IMAGE")})
    return BuiltImage(
        base_images={
            base: base_identity(client, base) for base in bases if base_present(client, base)
        },
        image=target.image,
        platform=target.platform,
        reference=target.reference,
        image_id=image.id,
        size_bytes=image.size or 0,
        seconds=round(time.monotonic() - started, 2),
        cached=cached,
    )


def _build_concurrently(
    client: DockerClient,
    settings: Settings,
    plan: BuildPlan,
    targets: list[BuildTarget],
    *,
    contexts: dict[str, Path],
    console: Console,
) -> list[BuiltImage]:
    """Build targets `settings.build_jobs` at a time: they wait mostly on apt, npm and PyPI.

    On the first failure the builds not yet started are cancelled and the running ones finish, so
    no buildx process outlives the task; the failure is raised after them.
    """
    names = ", ".join(f"{t.image} {arch_of(t.platform)}" for t in targets)
    jobs = min(settings.build_jobs, len(targets))
    built: dict[str, BuiltImage] = {}
    with (
        console.step(f"build {names} ({jobs} at a time)"),
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="floe-build") as pool,
    ):
        futures = {
            pool.submit(_build_target, client, settings, plan, target, contexts): target
            for target in targets
        }
        try:
            for future in as_completed(futures):
                image = future.result()
                built[image.reference] = image
                console.line(f"  ✓ {image.image} {image.platform} ({image.seconds:.1f} s)")
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [built[target.reference] for target in targets]


def build_images(settings: Settings, plan: BuildPlan, console: Console) -> BuildReport:
    """The golden bases first (every other image builds FROM one), then the rest concurrently.

    The runtime image's wheels download while the bases build: neither needs the other.
    """
    client = docker_client(settings)
    if not engine_reachable(client):
        raise FloeError("the Docker engine does not answer", "run `invoke platform.up`")
    contexts: dict[str, Path] = {}
    runtime_platforms = [
        t.platform for t in plan.targets if image_spec(t.image).kind is ImageKind.RUNTIME
    ]
    bases = [t for t in plan.targets if image_spec(t.image).kind is ImageKind.BASE]
    others = [t for t in plan.targets if t not in bases]
    built = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="floe-wheels") as wheels:
        resolving = (
            wheels.submit(
                prepare_python_context, runtime_platforms, host_platform(), settings.state_dir
            )
            if runtime_platforms
            else None
        )
        for target in bases:
            with console.step(f"build {target.image} {target.platform}"):
                built.append(_build_target(client, settings, plan, target, contexts))
        if resolving is not None:
            with console.step(f"resolve locked wheels for {', '.join(runtime_platforms)}"):
                contexts["dagster"] = resolving.result()
    if others:
        built += _build_concurrently(
            client, settings, plan, others, contexts=contexts, console=console
        )
    return BuildReport(tag=plan.tag, images=built)
