"""Policy checks on built images, and images.inspect's report.

Checked without running the image (config and layers): non-root user (UID 1000 for the runtime
image), OCI labels, exec-form entrypoint, no compilers, no secret in any layer or variable.
The runtime image is also started read-only and must answer the Dagster gRPC health check.
"""

from __future__ import annotations

import contextlib
import re

from pydantic import BaseModel
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.errors import FloeError
from floe_deploy.images.build import IMAGE_LABEL
from floe_deploy.images.catalog import BASE_IMAGE
from floe_deploy.images.layers import SECRET_ENV_NAME, ImageScan, scan_image
from floe_deploy.waiting import poll

REQUIRED_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
)
COMPILER = re.compile(
    r"^(usr/(local/)?bin/((x86_64|aarch64)-linux-gnu-)?(gcc|cc|c\+\+|g\+\+|clang|make)(-\d+)?)$"
)
RUNTIME_IMAGE = "dagster"
RUNTIME_UID = "1000"
HEALTH_TIMEOUT_S = 90.0


class PolicyCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class ImageInspection(BaseModel):
    reference: str
    platform: str
    size_bytes: int
    layers: int
    user: str
    entrypoint: list[str]
    cmd: list[str]
    labels: dict[str, str]
    checks: list[PolicyCheck]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def _static_checks(image_name: str, config: object, scan: ImageScan) -> list[PolicyCheck]:
    user = getattr(config, "user", "") or ""
    labels = getattr(config, "labels", None) or {}
    entrypoint = list(getattr(config, "entrypoint", None) or [])
    command = list(getattr(config, "cmd", None) or [])
    env = list(getattr(config, "env", None) or [])
    uid = user.split(":")[0]
    if image_name == RUNTIME_IMAGE:
        user_check = PolicyCheck(
            name=f"runs as UID {RUNTIME_UID}",
            passed=uid == RUNTIME_UID,
            detail=f"user {user or 'root'}",
        )
    else:
        user_check = PolicyCheck(
            name="runs as non-root",
            passed=uid not in {"", "0", "root"},
            detail=f"user {user or 'root'}",
        )
    missing = [label for label in REQUIRED_LABELS if not labels.get(label)]
    compilers = sorted(path for path in scan.paths if COMPILER.match(path))
    secret_env = [
        item.split("=", 1)[0]
        for item in env
        if SECRET_ENV_NAME.search(item.split("=", 1)[0]) and item.split("=", 1)[1:] != [""]
    ]
    start = entrypoint or command
    if image_name == RUNTIME_IMAGE:
        # Kubernetes workloads name the program in `args` (the dagster chart, dagster-k8s's run
        # pods): an ENTRYPOINT would be prepended to it (`dagster dagster ...`).
        entrypoint_check = PolicyCheck(
            name="no ENTRYPOINT, exec-form CMD",
            passed=not entrypoint and bool(command) and command[:2] != ["/bin/sh", "-c"],
            detail=f"entrypoint {' '.join(entrypoint) or 'none'}; cmd {' '.join(command) or 'none'}",
        )
    else:
        entrypoint_check = PolicyCheck(
            name="exec-form entrypoint",
            passed=bool(start) and start[:2] != ["/bin/sh", "-c"],
            detail=" ".join(start) or "none",
        )
    # A base image runs nothing itself: user and entrypoint are for the images built FROM it.
    return [
        *([] if image_name == BASE_IMAGE else [user_check, entrypoint_check]),
        PolicyCheck(
            name="OCI labels",
            passed=not missing,
            detail=f"missing {', '.join(missing)}" if missing else "present",
        ),
        PolicyCheck(
            name="no compilers", passed=not compilers, detail=", ".join(compilers) or "none found"
        ),
        PolicyCheck(
            name="no secrets in layers",
            passed=not scan.secrets,
            detail="; ".join(f"layer {s.layer}: {s.path} ({s.kind})" for s in scan.secrets[:5])
            or "none found",
        ),
        PolicyCheck(
            name="no secrets in env",
            passed=not secret_env,
            detail=", ".join(secret_env) or "none found",
        ),
    ]


def read_only_health(client: DockerClient, reference: str, platform: str) -> PolicyCheck:
    """Start the runtime image with a read-only root and /tmp as tmpfs; the code server must answer."""
    container_name = "floe-policy-read-only"
    with contextlib.suppress(DockerException):
        client.container.remove(container_name, force=True)
    container = client.run(
        reference, detach=True, name=container_name, read_only=True, tmpfs=["/tmp"], platform=platform,
        labels={"org.floe-deploy.policy-check": "1"},
    )  # fmt: skip
    name = "read-only start, gRPC health"

    def answered() -> PolicyCheck | None:
        try:
            client.container.execute(
                container, ["dagster", "api", "grpc-health-check", "-p", "4000"]
            )
        except DockerException:
            if client.container.inspect(container).state.running:
                return None
            logs = str(client.container.logs(container))[-500:]
            return PolicyCheck(name=name, passed=False, detail=f"exited: {logs}")
        return PolicyCheck(name=name, passed=True, detail="code server answered")

    try:
        return poll(answered, timeout=HEALTH_TIMEOUT_S, interval=0.5) or PolicyCheck(
            name=name, passed=False, detail=f"no answer in {HEALTH_TIMEOUT_S:.0f} s"
        )
    finally:
        client.container.remove(container, force=True)


def inspect_image(
    client: DockerClient, reference: str, *, run_checks: bool = True
) -> ImageInspection:
    try:
        image = client.image.inspect(reference)
    except DockerException:
        raise FloeError(
            f"image {reference} is not in the local engine", "build it first: `invoke images.build`"
        ) from None
    config = image.config
    labels = dict(config.labels or {})
    platform = f"{image.os}/{image.architecture}"
    scan = scan_image(client, reference)
    image_name = labels.get(IMAGE_LABEL, "")
    checks = _static_checks(image_name, config, scan)
    if run_checks and image_name == RUNTIME_IMAGE:
        checks.append(read_only_health(client, reference, platform))
    return ImageInspection(
        reference=reference,
        platform=platform,
        size_bytes=image.size or 0,
        layers=scan.layers,
        user=config.user or "root",
        entrypoint=list(config.entrypoint or []),
        cmd=list(config.cmd or []),
        labels=labels,
        checks=checks,
    )
