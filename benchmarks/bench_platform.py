"""The toolkit's own responsiveness: `invoke --list` and a repeated bootstrap."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from benchmarks.measure import Measurement, summary, time_command
from floe_deploy.paths import PROJECT_ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")


def run() -> list[Measurement]:
    list_samples = time_command([INVOKE, "--list"], runs=10)
    bootstrap_samples = time_command(["bash", str(PROJECT_ROOT / "scripts" / "bootstrap")], runs=3)
    return [
        Measurement(
            name="invoke_list_seconds",
            value=round(statistics.median(list_samples), 4),
            unit="s",
            goal=0.5,
            floor=1.0,
            details=summary(list_samples),
        ),
        Measurement(
            name="bootstrap_repeat_seconds",
            value=round(statistics.median(bootstrap_samples), 4),
            unit="s",
            goal=1.0,
            floor=5.0,
            details=summary(bootstrap_samples)
            | {"note": "machine already bootstrapped: no change"},
        ),
    ]
