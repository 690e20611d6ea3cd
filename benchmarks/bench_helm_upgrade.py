"""The chart's upgrade to the next release, from the report the e2e upgrade rehearsal
(`helm.smoke --upgrade-from previous`, e2e/test_helm_smoke.py) wrote: the upgrade's wall time
(the pre-upgrade hooks to every new pod ready) and the webserver's unavailable window. Not re-run
here: one upgrade rehearsal takes minutes, and the e2e suite runs it on every CI run."""

from __future__ import annotations

import json

from benchmarks.measure import Measurement, e2e_report
from floe_deploy.testing import UPGRADE_REPORT

UNAVAILABLE_GOAL_S = 30.0  # the goal
UNAVAILABLE_FLOOR_S = 90.0
UPGRADE_GOAL_S = 180.0
UPGRADE_FLOOR_S = 420.0


def run() -> list[Measurement]:
    """A missing report, or one older than the checked-out commit, is an error: never a 0."""
    report = json.loads(e2e_report(UPGRADE_REPORT).read_text())
    facts = report["upgrade"]
    details = {
        "from": facts["from_image"], "to": facts["to_image"],
        "schema": f"{facts['revision_before']} -> {facts['revision_after']}",
        "migrate_seconds": facts["migrate_seconds"],
        "rows": f"{facts['rows_before']} -> {facts['rows_after']}",
        "runs_kept": f"{len(facts['runs_after'])} of {len(facts['runs_before'])}",
        "inflight_run": facts["inflight_status"],
    }  # fmt: skip
    return [
        Measurement(name="helm_upgrade_wall_seconds", value=facts["upgrade_seconds"], unit="s",
                    goal=UPGRADE_GOAL_S, floor=UPGRADE_FLOOR_S, details=details),
        Measurement(name="helm_upgrade_webserver_unavailable_seconds",
                    value=facts["webserver_unavailable_seconds"], unit="s",
                    goal=UNAVAILABLE_GOAL_S, floor=UNAVAILABLE_FLOOR_S, details=details),
    ]  # fmt: skip
