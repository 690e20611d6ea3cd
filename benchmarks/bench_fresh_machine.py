"""The first `scripts/bootstrap --demo` on a fresh machine, split by phase, against the 5-minute goal.

A fresh machine is approximated without disturbing this one:
- bootstrap: `scripts/bootstrap --only platform` (what `--demo` installs before the demo; the
  checks' tools come after it is up) runs from a copy of the checkout in a fresh Debian container (the
  golden base: debootstrap's minbase, python3), with the host's network and CA bundle. The host's
  binfmt registry is visible there (it is the kernel's), so QEMU's install is the one step that may
  be skipped. The checks' tools are not timed: `--demo` installs them after the demo is up, and
  the README's test command stays within its time.
- images, compose and the first batch: `invoke images.build` (the demo's images, as `demo.up`
  plans them) then `invoke demo.up` against a second, empty Docker engine (its own data root,
  socket and bridge), with empty pip and state directories, so nothing of this machine's engine
  or caches is used or touched.
- a fresh machine runs no demo yet: the user's own demo (the README's first command leaves it up
  while the second runs the benchmarks) is paused for the measurement and resumed after, and the
  details name what was paused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient

from benchmarks.measure import Measurement
from floe_deploy.demo.diagnosis import project_containers
from floe_deploy.demo.operations import IMAGES as DEMO_IMAGES
from floe_deploy.images.build import host_platform
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.platform.daemons import ManagedDaemon
from floe_deploy.platform.engine import docker_client, engine_reachable
from floe_deploy.platform.status import free_disk
from floe_deploy.settings import load_settings
from floe_deploy.testing import isolated_demo_env, run_task

FIRST_UP_FLOOR_S = 300.0
"""#19's promise: the first `demo.up` on a fresh machine, bootstrap included, within 5 minutes on 2 cores."""
FIRST_UP_GOAL_S = 240.0
"""With a minute to spare for a slower mirror or a busier machine."""
BRIDGE = "floe-fresh0"
BRIDGE_ADDRESS = "10.232.0.1/24"
POOL = "10.231.0.0/16"
"""Networks of the second engine, apart from the ones the machine's engine hands out."""
FORWARD_RULE = ["FORWARD", "-s", POOL, "-d", POOL, "-j", "ACCEPT"]
"""The machine's engine drops forwarded traffic it did not set up (and bridged traffic passes the
firewall here): the second engine, started without iptables, has its own networks let through."""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_VARIABLES = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
MIN_FREE_GB = 8.0


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@contextmanager
def empty_engine(scratch: Path) -> Iterator[str]:
    """A second dockerd with nothing in it; its address. Stopped, unmounted and removed after."""
    if not all(shutil.which(program) for program in ("dockerd", "ip", "iptables")):
        raise RuntimeError("dockerd, ip and iptables are needed: run scripts/bootstrap")
    created_bridge = subprocess.run(
        ["ip", "link", "show", BRIDGE], check=False, capture_output=True
    ).returncode
    if created_bridge:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
    subprocess.run(["iptables", "-I", *FORWARD_RULE], check=True, capture_output=True)
    address = f"unix://{scratch / 'docker.sock'}"
    daemon = ManagedDaemon("dockerd", "dockerd", scratch)
    pid = daemon.start([
        "--data-root", str(scratch / "data"), "--exec-root", str(scratch / "exec"),
        "--pidfile", str(scratch / "docker.pid"), "--host", address, "--bridge", BRIDGE,
        "--iptables=false", "--ip6tables=false", "--default-address-pool", f"base={POOL},size=24",
    ])  # fmt: skip
    try:
        client = DockerClient(host=address)
        if not daemon.wait_until_serving(pid, lambda: engine_reachable(client), 60.0, 0.3):
            raise RuntimeError(f"the second dockerd did not start: {daemon.log_tail()}")
        yield address
    finally:
        daemon.stop(timeout=60.0)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(scratch))), reverse=True):
            subprocess.run(["umount", mount], check=False, capture_output=True)
        subprocess.run(["iptables", "-D", *FORWARD_RULE], check=False, capture_output=True)
        if created_bridge:
            subprocess.run(["ip", "link", "delete", BRIDGE], check=False, capture_output=True)


def _bootstrap_in_container(address: str, base: str, scratch: Path) -> dict[str, Any]:
    """`scripts/bootstrap --only platform` on a fresh Debian: seconds in all, and per component."""
    archive = scratch / "project.tar"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT_ROOT, check=True, capture_output=True, text=True)  # fmt: skip
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, listed.stdout.split("\0")):
            if (PROJECT_ROOT / name).exists():
                tar.add(PROJECT_ROOT / name, arcname=name, recursive=False)
    script = (
        "mkdir /p && cd /p && tar xf /project.tar"
        " && s=$(date +%s.%N) && scripts/bootstrap --only platform --json > /platform.json"
        ' && e=$(date +%s.%N) && echo "$s $e" && cat /platform.json'
    )
    environment = {name: str(CA_BUNDLE) for name in CA_VARIABLES} | {"CI": "true"}
    output = str(
        DockerClient(host=address).run(
            base, ["bash", "-c", script], remove=True, networks=["host"], envs=environment,
            volumes=[(archive, "/project.tar", "ro"), (CA_BUNDLE, str(CA_BUNDLE), "ro")],
            cap_add=["SYS_ADMIN"], security_options=["seccomp=unconfined"],
        )
    )  # fmt: skip
    first, _, documents = output.partition("\n")
    start, end = (float(value) for value in first.split())
    platform = json.loads(documents)
    return {
        "platform_s": round(end - start, 1),
        "platform_steps": {s["component"]: s["seconds"] for s in platform["steps"]},
    }


def _first_demo_up(address: str, scratch: Path) -> dict[str, Any]:
    """What `demo.up` does on an empty engine, as two tasks so each image is timed: the demo's
    images built cold (`images.build`, the plan demo.up uses), then `demo.up` (compose, first batch)."""
    env = isolated_demo_env(scratch / "state", f"floe-fresh-{int(time.time())}") | {
        "FLOE_DOCKER_HOST": address,
        "FLOE_IMAGE_SOURCE": "hermetic",
        "PIP_CACHE_DIR": str(scratch / "pip-cache"),
    }
    shutil.rmtree(BUILD_DIR / "images" / "dagster", ignore_errors=True)
    images = [arg for name in DEMO_IMAGES for arg in ("--image", name)]
    started = time.perf_counter()
    built = run_task("images.build", *images, "--platform", host_platform(), "--json", env=env)
    build_seconds = time.perf_counter() - started
    if built.returncode != 0:
        raise RuntimeError(f"images.build on the empty engine failed: {built.stderr[-3000:]}")
    started = time.perf_counter()
    up = run_task("demo.up", "--json", env=env)
    up_seconds = time.perf_counter() - started
    run_task("demo.down", "--volumes", env=env)
    if up.returncode != 0:
        raise RuntimeError(f"demo.up on the empty engine failed: {up.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(up.stdout)
    return {
        "images_s": round(build_seconds, 1),
        "image_s": {i["image"]: i["seconds"] for i in json.loads(built.stdout)["images"]},
        "demo_up_s": round(up_seconds, 1),
        "demo_up_steps_s": {step["step"]: step["seconds"] for step in report["steps"]},
        "cube_orders": report["cube_orders"],
    }


@contextmanager
def users_demo_paused() -> Iterator[list[str]]:
    """The running containers of the user's demo (the configured compose project), paused until
    the block ends; their names."""
    settings = load_settings()
    docker = docker_client(settings)
    running = [
        c
        for c in project_containers(docker, settings.demo.project)
        if c.state.running and not c.state.paused
    ]
    if running:
        docker.container.pause(running)
    try:
        yield sorted(c.name for c in running)
    finally:
        if running:
            docker.container.unpause(running)


def run() -> list[Measurement]:
    scratch = Path(tempfile.mkdtemp(prefix="floe-bench-fresh-"))
    if free_disk(scratch)[1] < MIN_FREE_GB:
        scratch.rmdir()
        raise RuntimeError(f"fewer than {MIN_FREE_GB} GiB free in {scratch.parent} for an engine")
    try:
        with users_demo_paused() as paused, empty_engine(scratch) as address:
            demo = _first_demo_up(address, scratch)
            base = next(
                tag
                for image in DockerClient(host=address).image.list()
                for tag in image.repo_tags
                if "/python-base:" in tag
            )
            bootstrap = _bootstrap_in_container(address, base, scratch)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    phases = {
        "bootstrap (platform)": bootstrap["platform_s"],
        "images": demo["images_s"],
        "demo.up": demo["demo_up_s"],
    }
    return [
        Measurement(
            name="fresh_first_demo_up_seconds",
            value=round(sum(phases.values()), 1),
            unit="s",
            goal=FIRST_UP_GOAL_S,
            floor=FIRST_UP_FLOOR_S,
            details={"phases_s": phases, "bootstrap": bootstrap, "cores": os.cpu_count()}
            | {"paused_during_measurement": paused}
            | {key: value for key, value in demo.items() if key not in {"images_s", "demo_up_s"}}
            | {
                "note": "bootstrap in a fresh Debian container; images, compose and the first "
                "batch on a second, empty Docker engine; the checks' tools come after the demo "
                "is up and are not timed"
            },
        ),
    ]
