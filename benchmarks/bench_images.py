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

from python_on_whales import DockerClient

from benchmarks.measure import Measurement
from floe_deploy.images.wheels import wheel_cache
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.settings import load_settings

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


TOP_PACKAGES = """
import os
root = "/opt/floe/venv/lib/python3.11/site-packages"
sizes = {}
for entry in os.scandir(root):
    total = entry.stat().st_size if entry.is_file() else 0
    for directory, _, files in os.walk(entry.path):
        total += sum(os.path.getsize(os.path.join(directory, f)) for f in files)
    sizes[entry.name] = total
for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:10]:
    print(f"{name}\t{size}")
"""


def _venv(docker: DockerClient, reference: str) -> tuple[int, list[tuple[str, int]]]:
    """The image's virtualenv: its bytes, and its ten largest packages (name, bytes)."""
    total = str(docker.run(reference, ["-sb", "/opt/floe/venv"], entrypoint="du", remove=True))
    top = str(docker.run(reference, ["-c", TOP_PACKAGES], entrypoint="python3", remove=True))
    packages = [
        (name, int(size)) for name, size in (line.split("\t") for line in top.splitlines() if line)
    ]
    return int(total.split(maxsplit=1)[0]), packages


def run() -> list[Measurement]:
    docker = DockerClient()
    shutil.rmtree(BUILD_DIR / "images" / "dagster", ignore_errors=True)
    shutil.rmtree(wheel_cache(load_settings().state_dir), ignore_errors=True)
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
    venv, top = _venv(docker, reference)
    size, base = int(str(runtime["size_bytes"])), docker.image.inspect(base_reference).size or 0
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
