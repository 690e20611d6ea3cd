"""The compose demo with its images present: `demo.up` to all healthy and to first rows in Cube,
a second `demo.up`, the memory of the whole stack at rest, and what its health checks cost.

Runs under its own project, state directory and free ports, and removes everything it made.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from typing import Any

from python_on_whales import DockerClient

from benchmarks.measure import Measurement
from floe_deploy.demo.diagnosis import PROJECT_LABEL, SERVICE_LABEL, project_containers
from floe_deploy.testing import isolated_demo_env, run_task

HEALTHY_STEP = "compose up --wait"
REST_SECONDS = 15
PROBE_WINDOW_SECONDS = 40
PROBE_READ_SECONDS = 5


def _timed_up(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = run_task("demo.up", "--json", env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"demo.up failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return seconds, report


def _until_healthy(steps: list[dict[str, Any]]) -> float:
    """`demo.up`'s own step timings, summed up to and including compose's wait for health."""
    seconds = 0.0
    for step in steps:
        seconds += step["seconds"]
        if step["step"].startswith(HEALTHY_STEP):
            return float(round(seconds, 1))
    raise RuntimeError(f"demo.up reported no {HEALTHY_STEP!r} step: {steps}")


def _stack_memory_mib(project: str) -> dict[str, float]:
    client = DockerClient()
    containers = client.container.list(filters={"label": f"{PROJECT_LABEL}={project}"})
    return {
        stats.container_name: round(stats.memory_used / 1024**2, 1)
        for stats in client.container.stats(containers)
    }


def _probe_seconds(project: str) -> dict[str, float]:
    """Each service's fastest health check over PROBE_WINDOW_SECONDS (the fastest: what the probe
    costs when the machine lets it run). The engine keeps a container's last five probes only,
    ten seconds of them, so the logs are read every PROBE_READ_SECONDS: a run of the demo's
    schedule or the other work on a shared machine can slow every probe for that long. A probe
    runs every few seconds for the stack's whole life, so it must stay cheap."""
    fastest: dict[str, float] = {}
    deadline = time.monotonic() + PROBE_WINDOW_SECONDS
    while True:
        for container in project_containers(DockerClient(), project):
            probes = container.state.health.log if container.state.health else None
            durations = [
                (p.end - p.start).total_seconds() for p in probes or [] if p.start and p.end
            ]
            if durations:
                service = (container.config.labels or {}).get(SERVICE_LABEL, container.name)
                fastest[service] = round(min([*durations, fastest.get(service, math.inf)]), 3)
        if time.monotonic() >= deadline:
            return fastest
        time.sleep(PROBE_READ_SECONDS)


def run() -> list[Measurement]:
    state = tempfile.mkdtemp(prefix="floe-bench-demo-")
    project = f"floe-bench-{int(time.time())}"
    env = isolated_demo_env(state, project)
    try:
        first_s, first = _timed_up(env)
        steps = first["steps"]
        second_s, second = _timed_up(env)
        time.sleep(REST_SECONDS)
        memory = _stack_memory_mib(project)
        probes = _probe_seconds(project)
        if run_task("demo.down", env=env).returncode != 0:
            raise RuntimeError("demo.down (keeping the volumes) failed")
        _, restarted = _timed_up(env)
    finally:
        run_task("demo.down", "--volumes", env=env)
    return [
        Measurement(
            name="demo_up_to_all_healthy_seconds",
            value=_until_healthy(steps),
            unit="s",
            goal=60,
            floor=180,
            details={"steps": steps, "image_source": first["image_source"]},
        ),
        Measurement(
            name="demo_up_to_first_rows_in_cube_seconds",
            value=round(first_s, 1),
            unit="s",
            goal=120,
            floor=300,
            details={"cube_orders": first["cube_orders"]},
        ),
        Measurement(
            name="second_demo_up_seconds",
            value=round(second_s, 2),
            unit="s",
            goal=5,
            floor=15,
            details={"changed": second["changed"], "steps": second["steps"]},
        ),
        Measurement(
            name="demo_up_from_a_stopped_stack_to_healthy_seconds",
            value=_until_healthy(restarted["steps"]),
            unit="s",
            goal=30,
            floor=90,
            details={
                "steps": restarted["steps"],
                "note": "after demo.down, which keeps the volumes",
            },
        ),
        Measurement(
            name="slowest_health_check_seconds",
            value=max(probes.values()),
            unit="s",
            goal=0.5,
            floor=1.0,
            details={
                "fastest_per_service": probes,
                "note": "a probe that starts Dagster took about 2 s of CPU every 2-5 s",
                "window_seconds": PROBE_WINDOW_SECONDS,
            },
        ),
        Measurement(
            name="stack_memory_at_rest_mib",
            value=round(sum(memory.values()), 1),
            unit="MiB",
            details={"per_container": memory, "after_idle_seconds": REST_SECONDS},
        ),
    ]
