"""The runtime image: warm rebuild vs cold build, size vs base + venv, arm64 vs amd64 build time.

Runs the real `invoke images.build` (hermetic or upstream base, as this machine resolves it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import Measurement
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")
CODE_CHANGE = PROJECT_ROOT / "demo" / "floe_demo" / "_benchmark_change.py"
"""A one-file code change: a new, git-ignored module (no tracked file is ever edited), removed
after the warm build."""
MB = 1_000_000


def build(*args: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [INVOKE, "images.build", "--image", "dagster", "--json", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, json.loads(done.stdout)


def _runtime(report: dict[str, object], platform: str) -> dict[str, object]:
    images = report["images"]
    assert isinstance(images, list)
    return next(i for i in images if i["image"] == "dagster" and i["platform"] == platform)


def _docker_size(reference: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", reference],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return int(out.strip())


def _venv_bytes(reference: str) -> int:
    out = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "du", reference, "-sb", "/opt/floe/venv"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.split()[0])


def run() -> list[Measurement]:
    from floe_deploy.images.wheels import venv_top_packages  # noqa: PLC0415

    shutil.rmtree(BUILD_DIR / "images" / "dagster", ignore_errors=True)
    cold_amd64, report = build("--platform", "linux/amd64", "--no-cache")
    try:
        CODE_CHANGE.write_text(f"# a benchmark's one-file code change ({time.time()})\n")
        warm, _ = build("--platform", "linux/amd64")
    finally:
        CODE_CHANGE.unlink(missing_ok=True)
    build("--platform", "linux/arm64")
    arm64_seconds, _ = build("--platform", "linux/arm64", "--no-cache")
    amd64_seconds, report = build("--platform", "linux/amd64", "--no-cache")

    runtime = _runtime(report, "linux/amd64")
    reference = str(runtime["reference"])
    images = report["images"]
    assert isinstance(images, list)
    base_reference = next(str(i["reference"]) for i in images if i["image"] == "python-base")
    size, base, venv = (
        int(str(runtime["size_bytes"])),
        _docker_size(base_reference),
        _venv_bytes(reference),
    )
    top = venv_top_packages(reference, "linux/amd64")
    return [
        Measurement(
            name="warm_rebuild_over_cold_build",
            value=round(warm / cold_amd64, 4),
            unit="ratio",
            goal=0.05,
            floor=0.25,
            details={
                "warm_s": round(warm, 2),
                "cold_s": round(cold_amd64, 2),
                "cold_includes": "resolving wheels from uv.lock and --no-cache build",
            },
        ),
        Measurement(
            name="image_size_over_base_plus_venv",
            value=round(size / (base + venv), 4),
            unit="ratio",
            goal=1.05,
            floor=1.05,
            details={
                "image_mb": round(size / MB, 1),
                "base_mb": round(base / MB, 1),
                "venv_mb": round(venv / MB, 1),
                "base": base_reference,
                "top_10_venv_packages_mb": {name: round(b / MB, 1) for name, b in top},
            },
        ),
        Measurement(
            name="arm64_build_over_amd64_build",
            value=round(arm64_seconds / amd64_seconds, 3),
            unit="ratio",
            goal=3.0,
            floor=3.0,
            details={
                "arm64_s": round(arm64_seconds, 2),
                "amd64_s": round(amd64_seconds, 2),
                "note": "both --no-cache with the wheels already resolved",
            },
        ),
    ]
