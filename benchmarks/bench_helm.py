"""helm.validate over every values file of the chart by Kubernetes 1.29-1.34, as a user runs it
(a fresh `invoke` process: imports, render, schema checks). Goal ≤ 15 s on 2 cores.
Rendered with the real dagster chart (charts/ or FLOE_DAGSTER_CHART)."""

from __future__ import annotations

import json
import statistics
import time

from benchmarks.measure import Measurement
from floe_deploy.testing import run_task

RUNS = 3


def run() -> list[Measurement]:
    """helm.validate over every values file, rendered with the real dagster chart
    (charts/ or FLOE_DAGSTER_CHART)."""
    samples, report = [], {}
    for _ in range(RUNS):
        started = time.perf_counter()
        done = run_task("helm.validate", "--json")
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"helm.validate failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
    return [
        Measurement(
            name="helm_validate_all_values_all_versions_seconds",
            value=round(statistics.median(samples), 2),
            unit="s",
            goal=15,
            floor=45,
            details={
                "runs": [round(s, 2) for s in samples],
                "values_files": [v["values"] for v in report["values_files"]],
                "objects": len(report["objects"]),
                "kubernetes_versions": report["kubernetes_versions"],
                "dagster_chart": [f"{d['name']} {d['rendered']}" for d in report["dependencies"]],
            },
        )
    ]
