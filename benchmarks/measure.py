"""The result of one benchmark and how it is written."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

RESULTS_DIR = BUILD_DIR / "bench"


class Measurement(BaseModel):
    """One number with two thresholds: the floor an issue promised (`nox -s bench` fails when
    it is missed) and the goal we aim for (reported; `--strict` fails on it too)."""

    name: str
    value: float
    unit: str
    goal: float | None = None
    floor: float | None = None
    goal_is_max: bool = True
    details: dict[str, Any] = {}

    def _within(self, limit: float | None) -> bool:
        if limit is None:
            return True
        return self.value <= limit if self.goal_is_max else self.value >= limit

    @property
    def goal_met(self) -> bool:
        return self._within(self.goal)

    @property
    def floor_met(self) -> bool:
        return self._within(self.floor)

    def verdict(self) -> str:
        """`name: value unit (goal ≤ g, floor ≤ f) ok|below goal|BELOW FLOOR`."""
        sign = "≤" if self.goal_is_max else "≥"
        limits = [f"{label} {sign} {limit}" for label, limit in
                  (("goal", self.goal), ("floor", self.floor)) if limit is not None]  # fmt: skip
        shown = f" ({', '.join(limits)})" if limits else ""
        state = "ok" if self.goal_met else "below goal" if self.floor_met else "BELOW FLOOR"
        return f"{self.name}: {self.value} {self.unit}{shown} {state}"


def e2e_report(path: Path) -> Path:
    """A report the e2e suite wrote, for a benchmark that reads it instead of running the work
    again: missing, or older than the checked-out commit, is an error (never a 0)."""
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `nox -s e2e` first")
    head = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    if path.stat().st_mtime < float(head.strip()):
        raise RuntimeError(f"{path} is older than the checked-out commit: run `nox -s e2e` again")
    return path


def time_command(argv: Sequence[str], runs: int, cwd: Path = PROJECT_ROOT) -> list[float]:
    """Wall-clock seconds of `runs` runs of a command that must succeed."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(list(argv), cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
    }


def write(group: str, measurements: list[Measurement]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{group}.json"
    payload = [
        m.model_dump() | {"goal_met": m.goal_met, "floor_met": m.floor_met} for m in measurements
    ]
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
