"""The golden base image, made from Debian packages with debootstrap (no registry needed).

The image tag carries a key derived from everything that shapes the rootfs, so an unchanged
recipe is never rebuilt and a changed one never reuses a stale image.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from floe_deploy.commands import as_root, run
from floe_deploy.errors import FloeError
from floe_deploy.images.catalog import BASE_IMAGE, image_spec
from floe_deploy.platform.apt import DEBIAN_KEYRING, debian_mirror, read_sources
from floe_deploy.settings import Settings

PACKAGES = ("python3", "python3-venv", "python3-gdbm", "ca-certificates")
"""python3-gdbm: the official Python image's standard library has dbm.gnu; Debian ships it apart."""
RECIPE_VERSION = "1"
"""Bump when the slimming steps below change: it is part of the key."""
SLIMMED = (
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
    "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old", "var/log",
)  # fmt: skip
REMOVED_FILES = ("etc/resolv.conf", "etc/hostname", "etc/machine-id")
DPKG_EXCLUDES = """\
# Images built FROM the floe golden base install no documentation or translations.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""


def arch_of(platform: str) -> str:
    """`linux/arm64` → `arm64` (Debian and Docker use the same names for these two)."""
    return platform.split("/", 1)[1]


def apt_sources(settings: Settings, mirror: str) -> str:
    """The base's own sources: the host's mirror, plus updates and security where the host has them."""
    suite = settings.debian_suite
    lines = [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main"]
    for source in read_sources():
        if f"{suite}-security" in source.suites:
            lines.append(f"deb {source.uri} {suite}-security main")
            break
    return "\n".join(lines) + "\n"


def recipe_files() -> list[Path]:
    """The files of images/python-base/ that go into the image next to the rootfs."""
    return sorted(path for path in image_spec(BASE_IMAGE).context.iterdir() if path.is_file())


def prepare_context(settings: Settings, platform: str, context: Path) -> None:
    """The base's build context: the rootfs tarball (made once per key) and the recipe files."""
    tarball = context / f"rootfs-{arch_of(platform)}.tar"
    if not tarball.exists():
        make_rootfs(settings, platform, tarball)
    for path in recipe_files():
        shutil.copy2(path, context / path.name)


def base_key(settings: Settings, platform: str) -> str:
    mirror = debian_mirror(settings.debian_mirror)
    recipe = "\n".join(
        [
            RECIPE_VERSION,
            settings.debian_suite,
            arch_of(platform),
            ",".join(PACKAGES),
            apt_sources(settings, mirror),
            *(path.read_text() for path in recipe_files()),
            DPKG_EXCLUDES,
        ]
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_reference(settings: Settings, platform: str) -> str:
    """The local, per-platform tag of the golden base that other images build FROM."""
    return (
        f"{settings.image_prefix}/python-base:"
        f"{settings.debian_suite}-{base_key(settings, platform)}-{arch_of(platform)}"
    )


def base_present(client: DockerClient, reference: str) -> bool:
    try:
        client.image.inspect(reference)
    except DockerException:
        return False
    return True


def make_rootfs(settings: Settings, platform: str, tarball: Path) -> None:
    """debootstrap a minbase rootfs, slim it and pack it with numeric owners."""
    if shutil.which("debootstrap") is None:
        raise FloeError("debootstrap is not installed", "run scripts/bootstrap")
    if not DEBIAN_KEYRING.is_file():
        raise FloeError(
            f"{DEBIAN_KEYRING} is missing: the golden base's packages could not be verified",
            "run scripts/bootstrap (it installs debian-archive-keyring, also on Ubuntu)",
        )
    mirror = debian_mirror(settings.debian_mirror)
    arch = arch_of(platform)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"floe-rootfs-{arch}-", dir=tarball.parent) as scratch:
        rootfs = Path(scratch) / "rootfs"
        run(
            as_root([
                "debootstrap", "--variant=minbase", f"--arch={arch}",
                f"--keyring={DEBIAN_KEYRING}", "--force-check-gpg",
                f"--include={','.join(PACKAGES)}", settings.debian_suite, str(rootfs), mirror,
            ]),
            remediation=f"check that {mirror} serves {settings.debian_suite}/{arch} "
            "(and, for a foreign arch, that `invoke platform.status` shows arm64 emulation)",
            timeout=1800,
        )  # fmt: skip
        (rootfs / "etc" / "apt" / "sources.list").write_text(apt_sources(settings, mirror))
        for relative in SLIMMED:
            target = rootfs / relative
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        for relative in REMOVED_FILES:
            (rootfs / relative).unlink(missing_ok=True)
        for relative in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
            (rootfs / relative).mkdir(parents=True, exist_ok=True)
        (rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "01-floe-slim").write_text(DPKG_EXCLUDES)
        partial = tarball.with_suffix(".partial")
        run(
            as_root(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."]),
            remediation=f"check free disk space in {tarball.parent}",
        )
        partial.replace(tarball)
        run(as_root(["rm", "-rf", str(rootfs)]), remediation=f"remove {rootfs} by hand")
