"""helm.smoke on the demo values, as a user runs it (a fresh `invoke` process): seconds from the
render to every played pod ready, and to the first run's success (launched by the daemon's
K8sRunLauncher, its Job played). Images are built once before (not timed)."""

from __future__ import annotations

import json

from benchmarks.measure import Measurement
from floe_deploy.testing import run_task


def run() -> list[Measurement]:
    done = run_task("helm.smoke", "--json")
    if done.returncode != 0:
        raise RuntimeError(f"helm.smoke failed: {done.stdout[-3000:]} {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    seconds = report["seconds"]
    details = {"values": report["values"], "rows_in_cube": report["rows_in_cube"],
               "dagster_chart": [f"{d['name']} {d['rendered']}" for d in report["dependencies"]]}  # fmt: skip
    return [
        Measurement(
            name="helm_smoke_render_to_all_pods_ready_seconds",
            value=round(seconds["all pods ready"] - seconds["render"], 1),
            unit="s",
            goal=120,
            floor=120,
            details=details,
        ),
        Measurement(
            name="helm_smoke_render_to_first_run_success_seconds",
            value=round(seconds["first run success"] - seconds["render"], 1),
            unit="s",
            goal=180,
            floor=180,
            details=details,
        ),
    ]
