"""The offline bundle, from the report e2e/test_bundle.py wrote: the archive's size and the wall
times of `bundle.export` and `bundle.import` (checksums, offline verification of every signature
and attestation, the pushes into a TLS registry with logins). Not re-run here: the e2e test
publishes the signed release it exports, and runs on every CI run. That release is a minimal one
(the full release takes an hour to build), so the size measures the bundle's overhead, not a
production release's images."""

from __future__ import annotations

import json

from benchmarks.measure import Measurement, e2e_report
from floe_deploy.testing import BUNDLE_REPORT

SIZE_GOAL_MB = 2500.0
SECONDS_GOAL = 120.0
SECONDS_FLOOR = 600.0


def run() -> list[Measurement]:
    """A missing report, or one older than the checked-out commit, is an error: never a 0."""
    report = json.loads(e2e_report(BUNDLE_REPORT).read_text())
    details = {"version": report["version"], "release": report["release"], "images": report["images"],
               "platforms": report["platforms"]}  # fmt: skip
    return [
        Measurement(name="bundle_size_mb", value=round(report["size_bytes"] / 1e6, 3), unit="MB",
                    goal=SIZE_GOAL_MB, details=details),
        Measurement(name="bundle_export_seconds", value=report["export_seconds"], unit="s",
                    goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=details),
        Measurement(name="bundle_import_seconds", value=report["import_seconds"], unit="s",
                    goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=details),
    ]  # fmt: skip
