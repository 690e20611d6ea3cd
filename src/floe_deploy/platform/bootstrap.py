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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import run
from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import Apt, fetch_from_suite
from floe_deploy.platform.emulation import (
    arm64_emulation_enabled,
    enable_arm64_emulation,
    host_is_arm64,
)

PLUGIN_SUITE = "trixie"
"""The Debian suite whose docker-buildx / docker-compose (v2) packages run on Debian 12 too."""


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


def _docker_cli_version(*subcommand: str) -> str | None:
    if shutil.which("docker") is None:
        return None
    done = subprocess.run(
        ["docker", *subcommand, "version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout else None


def _engine_present() -> str | None:
    if path := shutil.which("dockerd"):
        return f"dockerd at {path}"
    done = (
        subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if shutil.which("docker")
        else None
    )
    if done is not None and done.returncode == 0:
        return f"engine {done.stdout.strip()} already running"
    return None


def ensure_engine(apt: Apt) -> tuple[Outcome, str]:
    if found := _engine_present():
        return Outcome.PRESENT, found
    apt.install("docker.io")
    return Outcome.INSTALLED, "docker.io (Debian/Ubuntu package)"


def _install_plugin_from_suite(package: str, binary: str) -> str:
    with tempfile.TemporaryDirectory(prefix="floe-plugin-") as scratch:
        root = Path(scratch)
        (deb,) = fetch_from_suite([package], PLUGIN_SUITE, root / "debs")
        run(["dpkg", "-x", str(deb), str(root / "x")], remediation=f"check {deb.name}")
        source = root / "x" / "usr" / "libexec" / "docker" / "cli-plugins" / binary
        if not source.exists():
            raise FloeError(
                f"{deb.name} has no {binary} plugin",
                f"install the {binary} CLI plugin by hand into {plugin_dir()}",
            )
        target_dir = plugin_dir()
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target_dir / binary)
        (target_dir / binary).chmod(0o755)
        return f"{deb.name} from {PLUGIN_SUITE} into {target_dir}"


def ensure_buildx(apt: Apt) -> tuple[Outcome, str]:
    if version := _docker_cli_version("buildx"):
        return Outcome.PRESENT, version
    if apt.has_candidate("docker-buildx"):
        apt.install("docker-buildx")
        detail = "docker-buildx (distribution package)"
    else:
        detail = _install_plugin_from_suite("docker-buildx", "docker-buildx")
    return Outcome.INSTALLED, f"{_docker_cli_version('buildx')} — {detail}"


def _major(debian_version: str | None) -> int:
    """Major upstream version of a Debian version string such as `1:2.26.1-4` (0 when none)."""
    if not debian_version:
        return 0
    upstream = debian_version.split(":")[-1]
    return int(re.match(r"\d*", upstream)[0] or 0)  # type: ignore[index]


def ensure_compose(apt: Apt) -> tuple[Outcome, str]:
    if version := _docker_cli_version("compose"):
        return Outcome.PRESENT, version
    if apt.has_candidate("docker-compose-v2"):
        apt.install("docker-compose-v2")
        detail = "docker-compose-v2 (distribution package)"
    elif _major(apt.candidate_version("docker-compose")) >= 2:
        apt.install("docker-compose")
        detail = "docker-compose (distribution package)"
    else:
        detail = _install_plugin_from_suite("docker-compose", "docker-compose")
    return Outcome.INSTALLED, f"{_docker_cli_version('compose')} — {detail}"


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


def ensure_registry(apt: Apt) -> tuple[Outcome, str]:
    if path := shutil.which("docker-registry"):
        return Outcome.PRESENT, f"docker-registry at {path}"
    apt.install("docker-registry")
    return Outcome.INSTALLED, "docker-registry (Debian/Ubuntu package)"


STEPS: list[tuple[str, Callable[[Apt], tuple[Outcome, str]]]] = [
    ("docker engine", ensure_engine),
    ("buildx plugin", ensure_buildx),
    ("compose v2 plugin", ensure_compose),
    ("arm64 emulation", ensure_arm64_emulation),
    ("local registry", ensure_registry),
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


def bootstrap(console: Console) -> BootstrapResult:
    check_supported_os()
    apt = Apt()
    steps = []
    for component, ensure in STEPS:
        started = time.monotonic()
        with console.step(component):
            outcome, detail = ensure(apt)
        steps.append(
            StepResult(
                component=component,
                outcome=outcome,
                detail=detail,
                seconds=round(time.monotonic() - started, 2),
            )
        )
    return BootstrapResult(steps=steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bootstrap", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = parser.parse_args(argv)
    console = Console(json_mode=options.json)
    try:
        result = bootstrap(console)
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
