"""arm64 emulation through QEMU's binfmt_misc handler, so buildx can build linux/arm64 images."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from floe_deploy.commands import as_root, run

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64 = BINFMT_DIR / "qemu-aarch64"


def host_is_arm64() -> bool:
    return platform.machine() in {"aarch64", "arm64"}


def arm64_emulation_enabled() -> bool:
    """True when the kernel hands aarch64 binaries to QEMU (or the host runs arm64 natively)."""
    if host_is_arm64():
        return True
    try:
        return QEMU_AARCH64.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def enable_arm64_emulation() -> bool:
    """Register the installed QEMU handler when it is not yet; True when this call registered it."""
    if arm64_emulation_enabled() or shutil.which("update-binfmts") is None:
        return False
    if not (BINFMT_DIR / "register").exists():
        run(
            as_root(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)]),
            remediation="mount binfmt_misc on /proc/sys/fs/binfmt_misc (modprobe binfmt_misc)",
        )
    run(
        as_root(["update-binfmts", "--enable", "qemu-aarch64"]),
        remediation="reinstall qemu-user-static and binfmt-support",
    )
    return arm64_emulation_enabled()
