"""Debian packages: the system's own mirror, installs, and packages fetched from another suite.

The mirror is always read from the system's apt sources, never written into the project.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from floe_deploy.commands import as_root, attempt, run
from floe_deploy.errors import FloeError

APT_DIR = Path("/etc/apt")
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
ONE_LINE_SOURCE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)")
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
"""The Debian archive's signing keys (package debian-archive-keyring, in Ubuntu too): debootstrap
checks the golden base's Release file against them, and refuses without."""
DEBIAN_SUITES = frozenset({
    "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
    "oldoldstable", "oldstable", "stable", "testing", "unstable",
})  # fmt: skip
"""Suite names only a Debian archive serves: an Ubuntu archive (noble, jammy) has none of them."""


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]


def read_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """Every enabled binary-package source, in one-line (.list) and deb822 (.sources) format."""
    sources: list[AptSource] = []
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            for line in path.read_text().splitlines():
                if match := ONE_LINE_SOURCE.match(line):
                    sources.append(AptSource(match["uri"], (match["suite"],)))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                sources.append(AptSource(uri, tuple(fields.get("suites", "").split())))
    return sources


def debian_mirror(configured: str | None = None, apt_dir: Path = APT_DIR) -> str:
    """The Debian archive to debootstrap from: the configured one (FLOE_DEBIAN_MIRROR), else the
    Debian archive the system installs from (not its security or updates archive)."""
    if configured:
        return configured.rstrip("/")
    if (archive := debian_archive(apt_dir)) is not None:
        return archive
    raise FloeError(
        f"no Debian archive in {apt_dir}/sources.list or sources.list.d (an Ubuntu system names "
        "only Ubuntu's), and FLOE_DEBIAN_MIRROR is not set",
        "set FLOE_DEBIAN_MIRROR to a Debian mirror the machine reaches (in the release workflow: "
        "the repository variable FLOE_DEBIAN_MIRROR)",
    )


def debian_archive(apt_dir: Path = APT_DIR) -> str | None:
    """The Debian archive among the apt sources, recognised by a Debian suite name; None on a
    system such as Ubuntu whose sources name no Debian archive, so no Debian suite is reachable."""
    for source in read_sources(apt_dir):
        if DEBIAN_SUITES & set(source.suites) and "security" not in source.uri:
            return source.uri.rstrip("/")
    return None


def owning_package(path: Path) -> tuple[str, str] | None:
    """The package and version dpkg installed `path` from; None for a file no package owns."""
    owner = attempt(["dpkg-query", "--search", str(path)])
    if owner.returncode != 0 or ":" not in owner.stdout:
        return None
    package = owner.stdout.split(":", 1)[0].strip()
    version = attempt(["dpkg-query", "--show", "--showformat=${Version}", package])
    return (package, version.stdout.strip()) if version.returncode == 0 else None


def deb_version(deb: Path) -> str:
    """The Version field of a .deb file, read before anything in it is installed."""
    return run(["dpkg-deb", "--field", str(deb), "Version"], remediation=f"check {deb}").strip()


class Apt:
    """apt-get for the bootstrap: `update` runs at most once, and only when something is installed."""

    def __init__(self, apt_dir: Path = APT_DIR) -> None:
        self.apt_dir = apt_dir
        self._updated = False

    def debian_archive(self) -> str | None:
        return debian_archive(self.apt_dir)

    def _update(self) -> None:
        if not self._updated:
            run(
                as_root(["apt-get", "update", "-qq"]),
                remediation="check the apt sources and network",
            )
            self._updated = True

    def _policy(self, package: str) -> str:
        """`apt-cache policy` in the C locale: its labels ("Candidate:") are translated otherwise."""
        self._update()
        return run(
            ["apt-cache", "policy", package],
            env={"LC_ALL": "C", "LANGUAGE": ""},
            remediation="check the apt sources",
        )

    def has_candidate(self, package: str) -> bool:
        return self.candidate_version(package) is not None

    def candidate_version(self, package: str) -> str | None:
        match = re.search(r"Candidate:\s*(\S+)", self._policy(package))
        return None if match is None or match[1] == "(none)" else match[1]

    def install(self, *packages: str) -> None:
        self._update()
        run(
            as_root(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]),
            env={"DEBIAN_FRONTEND": "noninteractive"},
            remediation=f"install {' '.join(packages)} with apt-get and read its error",
        )


def fetch_from_suite(packages: list[str], suite: str, destination: Path, mirror: str) -> list[Path]:
    """Download .deb files from another suite of a Debian archive without adding it to apt.

    A private apt configuration (own lists, cache and source list) keeps the system's sources
    untouched, as Debian 12 needs for trixie's docker-buildx and docker-compose.
    """
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="floe-apt-") as scratch:
        root = Path(scratch)
        for sub in ("lists/partial", "cache/archives/partial"):
            (root / sub).mkdir(parents=True)
        signed_by = f"[signed-by={DEBIAN_KEYRING}] " if DEBIAN_KEYRING.exists() else ""
        (root / "sources.list").write_text(f"deb {signed_by}{mirror} {suite} main\n")
        options = [
            "-o", f"Dir::Etc::SourceList={root / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root / 'cache'}",
        ]  # fmt: skip
        remediation = f"check that {mirror} serves the {suite} suite"
        run(["apt-get", *options, "update", "-qq"], remediation=remediation)
        run(["apt-get", *options, "download", *packages], cwd=root, remediation=remediation)
        fetched = []
        for deb in sorted(root.glob("*.deb")):
            target = destination / deb.name
            shutil.move(deb, target)
            fetched.append(target)
    return fetched
