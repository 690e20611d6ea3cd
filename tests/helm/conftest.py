"""Rendering fixtures: a copy of the umbrella chart with the labelled dagster stand-in in charts/
(it proves plumbing only, never compatibility; see floe_deploy.testing.charts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_deploy.helm.chart import RenderedObject, deep_merge, load_values, render
from floe_deploy.testing.charts import chart_with_stand_in


@pytest.fixture(scope="session")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_with_stand_in(tmp_path_factory.mktemp("chart"))


Renderer = Callable[..., list[RenderedObject]]


@pytest.fixture(scope="session")
def rendered(chart_dir: Path) -> Renderer:
    """Render with a named values file (or none) plus overrides; objects of the umbrella and stand-in."""

    def run(values: str | None = None, **overrides: Any) -> list[RenderedObject]:
        base = load_values(chart_dir / values) if values else {}
        return render(deep_merge(base, overrides), chart_dir)

    return run


def find(objects: list[RenderedObject], kind: str, name_part: str = "") -> list[RenderedObject]:
    return [o for o in objects if o.kind == kind and name_part in o.name]
