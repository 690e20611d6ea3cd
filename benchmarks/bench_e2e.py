"""How long the e2e suite took, from the JUnit report of the last `nox -s e2e` (not re-run here)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from benchmarks.measure import Measurement, e2e_report
from floe_deploy.paths import BUILD_DIR

E2E_REPORT = BUILD_DIR / "reports" / "e2e-junit.xml"
WARM_GOAL_S = 900.0  # the evidence issue: ≤ 15 min warm, ≤ 30 min cold on 2 cores
COLD_FLOOR_S = 1800.0


def run() -> list[Measurement]:
    """A missing report, or one older than the checked-out commit, is an error: never a 0."""
    e2e_report(E2E_REPORT)
    suite = ET.parse(E2E_REPORT).getroot().find("testsuite")  # noqa: S314 (our own report)
    assert suite is not None
    cases = sorted(
        (
            (float(case.get("time", "0")), f"{case.get('classname')}::{case.get('name')}")
            for case in suite.iter("testcase")
        ),
        reverse=True,
    )
    return [
        Measurement(
            name="e2e_total_seconds",
            value=round(float(suite.get("time", "0")), 1),
            unit="s",
            goal=WARM_GOAL_S,
            floor=COLD_FLOOR_S,
            details={
                "tests": len(cases),
                "note": "goal is for a warm machine (images cached); cold goal is 1800 s",
                "slowest_10": [
                    {"test": name, "seconds": round(seconds, 2)} for seconds, name in cases[:10]
                ],
            },
        )
    ]
