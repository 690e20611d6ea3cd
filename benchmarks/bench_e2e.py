"""How long the e2e suite took, from the JUnit report of the last `nox -s e2e` (not re-run here)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from benchmarks.measure import Measurement
from floe_deploy.paths import BUILD_DIR

E2E_REPORT = BUILD_DIR / "reports" / "e2e-junit.xml"
WARM_GOAL_S = 600.0


def run() -> list[Measurement]:
    if not E2E_REPORT.exists():
        return [
            Measurement(
                name="e2e_total_seconds",
                value=0.0,
                unit="s",
                details={"note": "run `nox -s e2e` first"},
            )
        ]
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
            details={
                "tests": len(cases),
                "note": "goal is for a warm machine (images cached); cold goal is 1500 s",
                "slowest_10": [
                    {"test": name, "seconds": round(seconds, 2)} for seconds, name in cases[:10]
                ],
            },
        )
    ]
