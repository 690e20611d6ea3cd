"""Rendering the umbrella chart: dependencies in place, schemas resolvable offline, Helm SDK.

Every render goes through a prepared copy of the chart, made once per process for each state of
its inputs. The dagster dependency comes from the chart's charts/ (what `invoke helm.deps`
fetched) or, when that is empty, from the `dagster_chart` setting (an unpacked official chart,
e.g. a copy made on a connected machine; CI points it at a shared one). The official chart's
values schemas `$ref` Kubernetes definitions on a web site that no longer serves them; in the
copy those refs point at the same definitions embedded from kubernetes-validate's bundle, so
Helm still validates values against the chart's schema, offline.
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
from pydantic import BaseModel
from ruamel.yaml import YAML

from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import (
    NAMESPACE,
    RELEASE_NAME,
    STAND_IN_ANNOTATION,
    RenderedObject,
    chart_metadata,
    chosen_values,
    one_line,
    parse_sets,
)
from floe_deploy.helm.schemas import embed_kubernetes_definitions
from floe_deploy.yaml_read import parse_documents


class RenderedDependency(BaseModel):
    """Which chart a render used for one dependency, against the version Chart.yaml pins."""

    name: str
    pinned: str
    rendered: str
    source: str
    stand_in: bool

    @property
    def notice(self) -> str | None:
        """A line for the output when the render is not of the pinned official chart."""
        if self.stand_in:
            return (
                f"{self.name}: rendered with the labelled STAND-IN ({self.source}); "
                "it proves plumbing only, never compatibility"
            )
        if self.rendered != self.pinned:
            return (
                f"{self.name}: rendered with the official chart {self.rendered} from "
                f"{self.source}, not the pinned {self.pinned}"
            )
        return None


@dataclass(frozen=True)
class PreparedChart:
    path: Path
    dependencies: tuple[RenderedDependency, ...]
    schema_refs_embedded: int

    @property
    def notices(self) -> list[str]:
        return [n for d in self.dependencies if (n := d.notice)]


_prepared: dict[tuple[object, ...], PreparedChart] = {}
_scratch = Path(tempfile.mkdtemp(prefix="floe-charts-"))
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)


def _fingerprint(*roots: Path | None) -> tuple[object, ...]:
    """What a prepared copy depends on: every file's path, size and modification time."""
    found: list[object] = []
    for root in roots:
        if root is None:
            found.append(None)
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def prepare_chart(chart_dir: Path, dagster_chart: Path | None = None) -> PreparedChart:
    """The chart ready to render (cached while its files and the dagster copy are unchanged)."""
    chart_dir = chart_dir.resolve()
    key = (chart_dir, dagster_chart, _fingerprint(chart_dir, dagster_chart))
    if key not in _prepared:
        _prepared[key] = _prepare(chart_dir, dagster_chart)
    return _prepared[key]


def _prepare(chart_dir: Path, dagster_chart: Path | None) -> PreparedChart:
    declared = chart_metadata(chart_dir).get("dependencies") or []
    target = Path(tempfile.mkdtemp(dir=_scratch)) / chart_dir.name
    shutil.copytree(chart_dir, target, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    charts = target / "charts"
    charts.mkdir()
    rendered = []
    for dependency in declared:
        name, pinned = dependency["name"], str(dependency["version"])
        source = _place_dependency(chart_dir / "charts", name, charts, dagster_chart)
        metadata = chart_metadata(charts / name)
        rendered.append(
            RenderedDependency(
                name=name,
                pinned=pinned,
                rendered=str(metadata.get("version")),
                source=source,
                stand_in=(metadata.get("annotations") or {}).get(STAND_IN_ANNOTATION) == "true",
            )
        )
    embedded = 0
    for schema_path in sorted(target.rglob("values.schema.json")):
        schema = json.loads(schema_path.read_text())
        count = embed_kubernetes_definitions(schema, str(schema_path.relative_to(target)))
        if count:
            schema_path.write_text(json.dumps(schema))
            embedded += count
    return PreparedChart(target, tuple(rendered), embedded)


def _place_dependency(found_in: Path, name: str, charts: Path, dagster_chart: Path | None) -> str:
    """Put dependency `name` into `charts` (unpacked); say where it came from."""
    archives = sorted(found_in.glob(f"{name}-*.tgz"))
    if archives:
        helm_python.expand(str(charts), str(archives[-1]))
        return str(archives[-1])
    if (found_in / name / "Chart.yaml").is_file():
        shutil.copytree(found_in / name, charts / name)
        return str(found_in / name)
    if name == "dagster" and dagster_chart is not None:
        if not (dagster_chart / "Chart.yaml").is_file():
            raise FloeError(
                f"dagster_chart {dagster_chart} is not an unpacked chart (no Chart.yaml)",
                "point FLOE_DAGSTER_CHART at the directory of an unpacked dagster chart",
            )
        shutil.copytree(dagster_chart, charts / name)
        return str(dagster_chart)
    raise FloeError(
        f"chart dependency {name} is not in {found_in} and no dagster_chart is configured",
        "run `invoke helm.deps` online, `invoke helm.deps --mirror oci://REGISTRY/charts` from a "
        "mirror, or set FLOE_DAGSTER_CHART to an unpacked copy of the official dagster chart",
    )


def render(values: dict[str, Any], chart: PreparedChart) -> list[RenderedObject]:
    """Render offline through the Helm SDK into objects; NOTES.txt is left out. The render checks
    the values against the chart's and its subcharts' schemas (as `helm template` does). Each
    render loads afresh: `Chart.render` prunes disabled subcharts in place."""
    try:
        loaded = helm_python.Chart.load(str(chart.path))
    except helm_python.HelmError as error:
        raise FloeError(
            f"{chart.path.name} cannot be loaded: {one_line(error)}", "fix the chart"
        ) from None
    try:
        manifests = loaded.render(values, name=RELEASE_NAME, namespace=NAMESPACE, is_install=True)
    except helm_python.HelmValuesError as error:
        raise FloeError(
            f"values rejected by the chart's schema: {one_line(error)}", "fix the key named above"
        ) from None
    except helm_python.HelmRenderError as error:
        raise FloeError(
            f"rendering failed: {one_line(error)}", "fix the template or value named above"
        ) from None
    finally:
        loaded.close()
    objects = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in parse_documents(text):
            if document:
                objects.append(RenderedObject(template=template, document=document))
    return objects


def template_text(values: str, sets: list[str], chart: PreparedChart, chart_dir: Path) -> str:
    """`helm template` output: every rendered object, each after a `# Source:` line."""
    chosen = chosen_values(values, parse_sets(sets), chart_dir=chart_dir)
    yaml = YAML()
    out = io.StringIO()
    for item in render(chosen, chart):
        out.write(f"---\n# Source: {item.template}\n")
        yaml.dump(item.document, out)
    return out.getvalue()
