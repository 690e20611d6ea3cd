"""The umbrella chart with the labelled dagster stand-in in charts/, for tests and benchmarks.

The official dagster chart cannot be downloaded on the test machines. The stand-in
(tests/fixtures/dagster-standin) carries its name and pinned version and renders the same values
keys into minimal workloads: it proves plumbing (render, dependencies, mirror), never compatibility.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import helm_python

from floe_deploy.helm.chart import CHART_DIR
from floe_deploy.paths import PROJECT_ROOT

STAND_IN = PROJECT_ROOT / "tests" / "fixtures" / "dagster-standin"


def chart_with_stand_in(target: Path) -> Path:
    """A copy of the chart under `target`, with the stand-in packaged into its charts/."""
    chart = target / CHART_DIR.name
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts"))
    (chart / "charts").mkdir()
    helm_python.package(str(STAND_IN), destination=str(chart / "charts"))
    return chart


def chart_for_packaging(target: Path, dagster_chart: Path | None) -> Path:
    """The chart as a release packages it: this repository's, when `invoke helm.deps` filled its
    charts/; else a copy with the official dagster chart from the `dagster_chart` setting (on the
    test machines a shared copy of a release older than the pin; the package then carries it)."""
    if not dagster_chart:
        return CHART_DIR
    chart = target / CHART_DIR.name
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    shutil.copytree(dagster_chart, chart / "charts" / "dagster")
    return chart
