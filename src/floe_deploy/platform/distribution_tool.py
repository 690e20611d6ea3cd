"""Programs from Debian/Ubuntu packages for the bootstrap: the system's suites first, else Debian
trixie's .deb; a pinned program (cosign, oras) is accepted only in its release series."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ValidationError

from floe_deploy.commands import attempt, run
from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import Apt, deb_version, fetch_from_suite, owning_package
from floe_deploy.platform.pins import Pin, release_number

PLUGIN_SUITE = "trixie"
"""The Debian suite whose docker-buildx, docker-compose (v2), cosign and oras run on Debian 12 too."""


class Outcome(StrEnum):
    PRESENT = "present"
    INSTALLED = "installed"


def plugin_dir() -> Path:
    """Where the Docker CLI looks for plugins: system-wide for root, per user otherwise."""
    if os.geteuid() == 0:
        return Path("/usr/local/lib/docker/cli-plugins")
    return Path.home() / ".docker" / "cli-plugins"


def bin_dir() -> Path:
    return Path("/usr/local/bin") if os.geteuid() == 0 else Path.home() / ".local" / "bin"


def version_line(argv: list[str], pattern: str = r"\d+\.\d+") -> str | None:
    """The first line matching `pattern` that a command prints; None when missing or failing."""
    if shutil.which(argv[0]) is None:
        return None
    done = attempt(argv)
    if done.returncode != 0:
        return None
    lines = (done.stdout or done.stderr).splitlines()
    return next((" ".join(line.split()) for line in lines if re.search(pattern, line)), None)


def upstream_major(debian_version: str | None) -> int:
    """Major upstream version of a Debian version string such as `1:2.26.1-4` (0 when none)."""
    if not debian_version:
        return 0
    match = re.match(r"\d+", debian_version.split(":")[-1])
    return int(match[0]) if match else 0


def _sha256(path: Path) -> str:
    with path.open("rb") as binary:
        return hashlib.file_digest(binary, "sha256").hexdigest()


class VersionRecord(BaseModel):
    """Which .deb a binary was unpacked from, kept beside it: trixie's cosign prints
    `GitVersion: devel`, so only its package knows its version."""

    package: str
    version: str
    suite: str
    sha256: str

    @staticmethod
    def path_for(binary: Path) -> Path:
        return binary.with_name(f".{binary.name}.deb.json")

    @classmethod
    def of(cls, binary: Path) -> VersionRecord | None:
        """The record of this very binary; None when there is none or the binary was replaced."""
        path = cls.path_for(binary)
        if not path.is_file():
            return None
        try:
            record = cls.model_validate_json(path.read_text())
        except ValidationError:
            return None
        return record if record.sha256 == _sha256(binary) else None


@dataclass(frozen=True)
class DistributionTool:
    """A program from a Debian/Ubuntu package: the system's suites first, else trixie's .deb.

    Debian 12 lacks buildx, compose v2, cosign and oras; trixie's builds run on it, so their
    binaries are unpacked from the .deb into a directory on the search path, and the system's
    apt sources are never changed. A system whose sources name no Debian archive (Ubuntu) gets
    only its own packages.
    """

    package: str
    version_command: tuple[str, ...]
    path_in_package: str
    target_dir: Callable[[], Path]
    min_major: int = 0
    version_pattern: str = r"\d+\.\d+"
    pin: Pin | None = None

    def installed_version(self) -> str | None:
        return version_line(list(self.version_command), self.version_pattern)

    def present(self) -> str | None:
        """What is installed, or None; a pinned program outside its series is refused."""
        if self.pin is None:
            return self.installed_version()
        found = shutil.which(self.pin.program)
        return None if found is None else self._check_pinned(self.pin, Path(found))

    def check_before_install(self, apt: Apt) -> None:
        """Refuse a wrong version on PATH, or a missing program nothing here can install, before
        any step changes the machine."""
        if self.present() is None and self._system_candidate(apt) is None and not self._go():
            self._debian_archive(apt)

    def ensure(self, apt: Apt) -> tuple[Outcome, str]:
        if (present := self.present()) is not None:
            return Outcome.PRESENT, present
        if (candidate := self._system_candidate(apt)) is not None:
            apt.install(self.package)
            detail = f"{self.package} {candidate} (distribution package)"
        elif apt.debian_archive() is None and (go := self._go()) is not None:
            detail = self._go_install(go)
        else:
            detail = self._install_from_suite(self._debian_archive(apt))
        return Outcome.INSTALLED, f"{self.present()} — {detail}"

    def install_deb(self, deb: Path, suite: str = PLUGIN_SUITE) -> str:
        """Unpack the program from `deb` into the target directory, once its version is known to
        be admitted; a pinned program gets its VersionRecord."""
        version = deb_version(deb)
        if not self._admits(version):
            raise self._unavailable(f"{deb.name} is {self.package} {version}")
        target = self.target_dir() / Path(self.path_in_package).name
        with tempfile.TemporaryDirectory(prefix="floe-deb-") as scratch:
            unpacked = Path(scratch) / "x"
            run(["dpkg", "-x", str(deb), str(unpacked)], remediation=f"check {deb.name}")
            source = unpacked / self.path_in_package
            if not source.exists():
                raise FloeError(
                    f"{deb.name} has no {self.path_in_package}",
                    f"install {self.package} by hand into {target.parent}",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            target.chmod(0o755)
        if self.pin is not None:
            record = VersionRecord(
                package=self.package, version=version, suite=suite, sha256=_sha256(target)
            )
            VersionRecord.path_for(target).write_text(record.model_dump_json() + "\n")
        return f"{deb.name} from {suite} into {target.parent}"

    def _go(self) -> str | None:
        """Go, for a pinned program where no Debian archive is at hand (GitHub's Ubuntu runners)."""
        return shutil.which("go") if self.pin is not None else None

    def _go_install(self, go: str) -> str:
        """`go install module@vX.Y.Z` into the target directory: the exact pinned release, its
        sources checked against Go's checksum database; the version recorded beside it."""
        assert self.pin is not None
        target_dir = self.target_dir()
        target_dir.mkdir(parents=True, exist_ok=True)
        run([go, "install", self.pin.go_module], env={"GOBIN": str(target_dir)},
            remediation="check that Go's module proxy is reachable (GOPROXY)", timeout=1800)  # fmt: skip
        target = target_dir / self.pin.program
        version = self.pin.go_module.rpartition("@v")[2]
        record = VersionRecord(package=self.pin.go_module, version=version, suite="go install",
                               sha256=_sha256(target))  # fmt: skip
        VersionRecord.path_for(target).write_text(record.model_dump_json() + "\n")
        return f"go install {self.pin.go_module} into {target_dir}"

    def _install_from_suite(self, archive: str) -> str:
        with tempfile.TemporaryDirectory(prefix="floe-deb-") as scratch:
            (deb,) = fetch_from_suite([self.package], PLUGIN_SUITE, Path(scratch), archive)
            return self.install_deb(deb)

    def _admits(self, debian_version: str) -> bool:
        if upstream_major(debian_version) < self.min_major:
            return False
        return self.pin is None or self.pin.admits(release_number(debian_version) or "")

    def _system_candidate(self, apt: Apt) -> str | None:
        """The version the system's apt sources offer, when it is admitted."""
        candidate = apt.candidate_version(self.package)
        return candidate if candidate is not None and self._admits(candidate) else None

    def _debian_archive(self, apt: Apt) -> str:
        """The archive to fetch trixie's package from; raises on a system whose apt sources name
        no Debian archive (Ubuntu)."""
        if (archive := apt.debian_archive()) is not None:
            return archive
        offered = apt.candidate_version(self.package)
        raise self._unavailable(
            f"{self.package} is missing: the system's apt sources offer "
            f"{f'only {offered}' if offered else 'nothing'}, and they name no Debian archive to "
            f"fetch {PLUGIN_SUITE}'s package from"
        )

    def _unavailable(self, message: str) -> FloeError:
        if self.pin is None:
            return FloeError(message, f"install {self.package} by hand into {self.target_dir()}")
        program, series = self.pin.program, self.pin.series
        return FloeError(
            f"{message}; floe-deploy needs {program} {series}.x",
            f"put {program} {series}.x on PATH before scripts/bootstrap (on GitHub's runners "
            f"{self.pin.setup_action}), or install Go: the bootstrap then builds "
            f"{self.pin.go_module}",
        )

    def _check_pinned(self, pin: Pin, path: Path) -> str:
        line = self.installed_version()
        version, source = release_number(line or ""), f"`{' '.join(self.version_command)}`"
        if version is None and (record := VersionRecord.of(path)) is not None:
            version, source = release_number(record.version), f"{record.package} {record.version}"
        if version is None and (owner := owning_package(path.resolve())) is not None:
            version, source = release_number(owner[1]), f"{owner[0]} {owner[1]} (dpkg)"
        remediation = (
            f"put {pin.program} {pin.series}.x ahead of {path} on PATH (on GitHub's runners: "
            f"{pin.setup_action}), or remove {path} and run scripts/bootstrap again"
        )
        if version is None:
            if path.parent == self.target_dir():
                return (
                    f"{path}: {line or 'no version'}, the {PLUGIN_SUITE} build an earlier "
                    f"bootstrap put there ({pin.program} {pin.series}.x)"
                )
            raise FloeError(
                f"cannot tell which {pin.program} {path} is: `{' '.join(self.version_command)}` "
                f"prints {line or 'no version'}",
                remediation,
            )
        if not pin.admits(version):
            raise FloeError(
                f"{path} is {pin.program} {version}, but floe-deploy needs {pin.program} "
                f"{pin.series}.x: {pin.reason}",
                remediation,
            )
        return f"{pin.program} {version} at {path} ({source})"
