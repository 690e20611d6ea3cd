"""Rendering fixtures: the umbrella chart with the real official dagster chart (the one
`invoke helm.deps` fetched into charts/, else the `dagster_chart` setting; CI points
FLOE_DAGSTER_CHART at a shared copy). The session prints which version it rendered."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chosen_values
from floe_deploy.helm.rendering import PreparedChart, prepare_chart, render
from floe_deploy.settings import load_settings


@pytest.fixture(scope="session")
def real_chart() -> PreparedChart:
    chart = prepare_chart(CHART_DIR, load_settings().dagster_chart)
    for dependency in chart.dependencies:
        assert not dependency.stand_in, "chart requirements are proven with the real dagster chart"
        if dependency.notice:
            warnings.warn(dependency.notice, UserWarning, stacklevel=1)
    return chart


Renderer = Callable[..., list[RenderedObject]]


@pytest.fixture(scope="session")
def rendered(real_chart: PreparedChart) -> Renderer:
    """Render with a named values file (or none) plus overrides: the umbrella's and the real
    dagster chart's objects."""

    def run(values: str | None = None, **overrides: Any) -> list[RenderedObject]:
        return render(chosen_values(CHART_DIR / values if values else None, overrides), real_chart)

    return run


def find(objects: list[RenderedObject], kind: str, name_part: str = "") -> list[RenderedObject]:
    return [o for o in objects if o.kind == kind and name_part in o.name]
