"""The offline bundle and the offline install, from the reports the e2e tests wrote (not re-run
here: each publishes the signed release it exports, on every CI run).

- e2e/test_bundle.py: a minimal two-platform release (the full release takes an hour to build),
  so its size measures the bundle's overhead; the wall times of `bundle.export` and `bundle.import`
  (checksums, offline verification of every signature and attestation, the pushes into a TLS
  registry with logins).
- e2e/test_offline_install.py: the platform's own five images for this machine's platform, the
  same export and import, then `helm.smoke --values prod --tls --pull-from` pulling every image
  from the site's registry into an empty image store and reaching a successful run."""

from __future__ import annotations

import json

from benchmarks.measure import Measurement, e2e_report
from floe_deploy.testing import BUNDLE_REPORT, OFFLINE_REPORT

SIZE_GOAL_MB = 2500.0
SECONDS_GOAL = 120.0
SECONDS_FLOOR = 600.0
OFFLINE_SMOKE_GOAL_S = 300.0
OFFLINE_SMOKE_FLOOR_S = 1200.0


def run() -> list[Measurement]:
    """A missing report, or one older than the checked-out commit, is an error: never a 0."""
    report = json.loads(e2e_report(BUNDLE_REPORT).read_text())
    details = {"version": report["version"], "release": report["release"], "images": report["images"],
               "platforms": report["platforms"]}  # fmt: skip
    offline = json.loads(e2e_report(OFFLINE_REPORT).read_text())
    platform = {"release": "the platform's images", "images": offline["images"],
                "platforms": offline["platforms"]}  # fmt: skip
    return [
        Measurement(name="bundle_size_mb", value=round(report["size_bytes"] / 1e6, 3), unit="MB",
                    goal=SIZE_GOAL_MB, details=details),
        Measurement(name="bundle_export_seconds", value=report["export_seconds"], unit="s",
                    goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=details),
        Measurement(name="bundle_import_seconds", value=report["import_seconds"], unit="s",
                    goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=details),
        Measurement(name="platform_bundle_size_mb", value=round(offline["size_bytes"] / 1e6, 3),
                    unit="MB", goal=SIZE_GOAL_MB, details=platform),
        Measurement(name="platform_bundle_export_seconds", value=offline["export_seconds"],
                    unit="s", goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=platform),
        Measurement(name="platform_bundle_import_seconds", value=offline["import_seconds"],
                    unit="s", goal=SECONDS_GOAL, floor=SECONDS_FLOOR, details=platform),
        Measurement(name="offline_smoke_seconds", value=offline["smoke_seconds"], unit="s",
                    goal=OFFLINE_SMOKE_GOAL_S, floor=OFFLINE_SMOKE_FLOOR_S,
                    details=platform | {"pulls": offline["pulls"],
                                        "timeline": offline["smoke_timeline"]}),
    ]  # fmt: skip
