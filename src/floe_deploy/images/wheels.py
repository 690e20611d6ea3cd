"""The runtime image's Python environment, resolved on the host from uv.lock.

Wheels for every target platform are downloaded here (with the hashes uv.lock records), so the
image build itself needs no network and compiles nothing, and an arm64 build installs the same
locked versions as amd64 without emulating pip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from floe_deploy.commands import run
from floe_deploy.errors import FloeError
from floe_deploy.images.base import arch_of
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

WORKSPACE_PACKAGES = ("floe-demo", "floe-preflight")
"""Workspace members the runtime image ships, built as wheels from this checkout."""
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise FloeError("uv is not installed", "run scripts/bootstrap")
    return found


def _uv_version() -> str:
    return run([_uv(), "--version"], remediation="reinstall uv").split()[1]


def locked_requirements() -> str:
    """Third-party requirements of the shipped packages, pinned with hashes, from uv.lock."""
    argv = [
        _uv(),
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-workspace",
        "--no-header",
        "--format",
        "requirements.txt",
    ]
    for package in WORKSPACE_PACKAGES:
        argv += ["--package", package]
    return run(argv, cwd=PROJECT_ROOT, remediation="run `uv lock` and commit uv.lock")


def _download(requirements: Path, arch: str, target: Path, extra: list[str]) -> None:
    machine = MACHINES[arch]
    argv = [
        sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(target),
        "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_28_{machine}",
        "--platform", f"manylinux_2_34_{machine}", "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311", "--abi", "abi3", "--abi", "none", *extra,
    ]  # fmt: skip
    argv += ["--require-hashes", "-r", str(requirements)] if not extra else []
    run(
        argv,
        remediation=f"a locked package may have no {machine} wheel for Python 3.11; check the error above",
        timeout=1800,
    )


def download_wheels(packages: list[str], arch: str, target: Path) -> None:
    """Wheels of `packages` and their dependencies for the runtime image's Python on `arch`,
    resolved here (not from uv.lock): an image that differs from the locked one on purpose."""
    _download(Path(), arch, target, packages)


def _extract_uv(tools: Path) -> None:
    """Unpack the target platform's uv binary from its wheel: the build runs it, no pip needed."""
    (wheel,) = tools.glob("uv-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        member = next(name for name in archive.namelist() if name.endswith(".data/scripts/uv"))
        (tools / "uv").write_bytes(archive.read(member))
    (tools / "uv").chmod(0o755)
    wheel.unlink()


def _local_wheels(local: Path) -> None:
    """Build the shipped workspace packages as wheels, again only when their sources changed."""
    sources = "".join(
        path.read_text()
        for member in ("demo", "preflight")
        for path in sorted(
            [*(PROJECT_ROOT / member).rglob("*.py"), PROJECT_ROOT / member / "pyproject.toml"]
        )
    )
    key = hashlib.sha256(sources.encode()).hexdigest()
    marker = local / ".sources"
    if marker.exists() and marker.read_text() == key:
        return
    shutil.rmtree(local, ignore_errors=True)
    for package in WORKSPACE_PACKAGES:
        run(
            [_uv(), "build", "--package", package, "--wheel", "--out-dir", str(local)],
            cwd=PROJECT_ROOT,
            remediation=f"check that {package} builds (`uv build --package {package}`)",
        )
    marker.write_text(key)


def _filled_once(directory: Path, fill: Callable[[Path], None]) -> Path:
    """`directory`, filled by `fill` into a private sibling first and renamed into place: a
    second process filling it at the same time keeps whichever rename came first, and a fill cut
    short leaves nothing that looks complete."""
    if directory.exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        fill(partial)
        partial.rename(directory)
    except OSError:
        if not directory.exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return directory


def _linked_into(cached: Path, target: Path) -> None:
    """`cached`'s files in `target` as hard links (copies across file systems): the build
    context holds them, the cache keeps them for the next checkout. A context that already holds
    them is left alone: a build beside this one may be reading it."""
    if target.is_dir() and sorted(p.name for p in target.iterdir()) == sorted(
        p.name for p in cached.iterdir()
    ):
        return
    shutil.rmtree(target, ignore_errors=True)

    def link(source: str, destination: str) -> None:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    shutil.copytree(cached, target, copy_function=link)


def lock_key(requirements: str | None = None) -> str:
    """The locked requirements' and uv's identity: what the wheels and the build context are
    kept under."""
    requirements = locked_requirements() if requirements is None else requirements
    return hashlib.sha256((requirements + _uv_version()).encode()).hexdigest()[:12]


def wheel_cache(state_dir: Path) -> Path:
    """Third-party wheels and uv per lock and architecture, shared by every checkout (a release
    pipeline's workspace, a second clone) that builds with this state directory."""
    return state_dir / "wheels"


def prepare_context(platforms: list[str], build_platform: str, state_dir: Path) -> Path:
    """build/images/dagster/<lock key>/: requirements.txt, wheels/ per target arch, tools/ (uv) per
    target and build arch, local/*.whl.

    Third-party wheels are keyed by the locked requirements and downloaded once per state
    directory; a change in the demo's own code rebuilds only its small wheel and the image layer
    that installs it.
    """
    requirements = locked_requirements()
    key = lock_key(requirements)
    cache = wheel_cache(state_dir) / key
    context = BUILD_DIR / "images" / "dagster" / key
    context.mkdir(parents=True, exist_ok=True)
    (context / "requirements.txt").write_text(requirements)
    _local_wheels(context / "local")

    def wheels_for(arch: str) -> Callable[[Path], None]:
        return lambda into: _download(context / "requirements.txt", arch, into, [])

    def uv_for(arch: str) -> Callable[[Path], None]:
        def fill(into: Path) -> None:
            _download(context / "requirements.txt", arch, into, [f"uv=={_uv_version()}"])
            _extract_uv(into)

        return fill

    for arch in [arch_of(platform) for platform in platforms]:
        wheels = _filled_once(cache / "wheels" / arch, wheels_for(arch))
        _linked_into(wheels, context / "wheels" / arch)
    for arch in sorted({arch_of(p) for p in [*platforms, build_platform]}):
        tools = _filled_once(cache / "tools" / arch, uv_for(arch))
        _linked_into(tools, context / "tools" / arch)
    return context
