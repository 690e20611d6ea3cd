"""The umbrella chart on disk: values sources, `--set`, dependencies, render to objects.

Rendering goes through the Helm Go SDK (helm-python-sdk); no helm binary and no cluster.
`Chart.render` prunes disabled subcharts from the loaded handle, so each render loads afresh.
"""

from __future__ import annotations

import tarfile
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import helm_python
from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.yaml_read import YAMLError, load_document, parse_document

CHART_DIR = PROJECT_ROOT / "helm" / "floe-dagster"
RELEASE_NAME = "floe"
NAMESPACE = "floe"
NAMED_VALUES = {"default": "values.yaml", "prod": "values-prod.yaml", "demo": "values-demo.yaml"}


STAND_IN_ANNOTATION = "floe-deploy.io/stand-in"


class Dependency(BaseModel):
    name: str
    version: str
    repository: str
    present: bool
    stand_in: bool = False
    """The test stand-in (annotated so): it proves dependency plumbing, never compatibility."""


class RenderedObject(BaseModel):
    """One Kubernetes object of a render, with the template that made it."""

    template: str
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.document.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str((self.document.get("metadata") or {}).get("name", ""))

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def chart_metadata(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    if not (chart_dir / "Chart.yaml").is_file():
        raise FloeError(
            f"{chart_dir} is not a chart (no Chart.yaml)", "pass --chart DIR of a Helm chart"
        )
    data: dict[str, Any] = parse_document((chart_dir / "Chart.yaml").read_text())
    return data


def values_path(name: str, chart_dir: Path = CHART_DIR) -> Path:
    """`prod`, `demo`, `default` or a file path."""
    if name in NAMED_VALUES:
        chart_metadata(chart_dir)
        return chart_dir / NAMED_VALUES[name]
    path = Path(name)
    if not path.is_file():
        raise FloeError(
            f"values file {name!r} does not exist",
            f"use one of {', '.join(NAMED_VALUES)} or the path of a YAML file",
        )
    return path


def load_values(path: Path) -> dict[str, Any]:
    return parse_values(path.read_text(), str(path))


def parse_values(text: str, source: str = "values") -> dict[str, Any]:
    """A values document as a mapping; `source` names it in errors."""
    try:
        data = load_document(text)
    except YAMLError as error:
        raise FloeError(
            f"{source} is not valid YAML: {str(error).splitlines()[0]}", "fix the file"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FloeError(f"{source} is not a YAML mapping", "a values file maps keys to values")
    return data


def parse_sets(expressions: Iterable[str]) -> dict[str, Any]:
    """`--set key=value` expressions, parsed the way Helm parses them."""
    merged: dict[str, Any] = {}
    for expression in expressions:
        if "=" not in expression:
            raise FloeError(
                f"--set {expression!r} is not key=value", "write --set path.to.key=value"
            )
        try:
            merged = deep_merge(merged, helm_python.parse_set_string(expression))
        except helm_python.HelmError as error:
            raise FloeError(
                f"--set {expression!r} is malformed: {error}", "write --set path.to.key=value"
            ) from None
    return merged


def one_line(error: BaseException) -> str:
    """Helm's multi-line messages as one line (the toolkit's errors are one line)."""
    return " ".join(part.strip(" -") for part in str(error).splitlines() if part.strip(" -"))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def chosen_values(
    values: str | Path | None,
    sets: Mapping[str, Any] | None = None,
    *,
    chart_dir: Path = CHART_DIR,
    over_defaults: bool = False,
) -> dict[str, Any]:
    """The values of one render, chosen and merged in one place: the named (`values_path`) or
    given file (None: no file), `--set` overrides over it, and with `over_defaults` all of that
    over the chart's values.yaml (what Helm computes, for checks that read the merged result)."""
    if values is None:
        chosen: dict[str, Any] = {}
    elif isinstance(values, Path):
        chosen = load_values(values)
    else:
        chosen = load_values(values_path(values, chart_dir))
    chosen = deep_merge(chosen, dict(sets or {}))
    return deep_merge(load_values(chart_dir / "values.yaml"), chosen) if over_defaults else chosen


def dependencies(chart_dir: Path = CHART_DIR) -> list[Dependency]:
    """Chart.yaml's dependencies, and whether each is in charts/ (as .tgz or directory)."""
    charts = chart_dir / "charts"
    found = []
    for dependency in chart_metadata(chart_dir).get("dependencies") or []:
        name, version = dependency["name"], str(dependency["version"])
        archive = charts / f"{name}-{version}.tgz"
        unpacked = charts / name / "Chart.yaml"
        present = archive.is_file() or unpacked.is_file()
        found.append(
            Dependency(
                name=name,
                version=version,
                repository=dependency["repository"],
                present=present,
                stand_in=present and _is_stand_in(archive if archive.is_file() else unpacked),
            )
        )
    return found


def _is_stand_in(path: Path) -> bool:
    if path.suffix == ".tgz":
        with tarfile.open(path) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("/Chart.yaml"))
            extracted = archive.extractfile(member)
            text = extracted.read().decode() if extracted else ""
    else:
        text = path.read_text()
    metadata = parse_document(text) or {}
    return (metadata.get("annotations") or {}).get(STAND_IN_ANNOTATION) == "true"


def require_dependencies(chart_dir: Path = CHART_DIR) -> None:
    missing = [d for d in dependencies(chart_dir) if not d.present]
    if missing:
        first = missing[0]
        raise FloeError(
            f"chart dependency {first.name} {first.version} is not in {chart_dir / 'charts'} "
            f"(and {first.repository} may be unreachable from here)",
            "run `invoke helm.deps` online, or `invoke helm.deps --mirror oci://REGISTRY/charts` "
            "from a mirror that holds it",
        )


def locked_version(package: str) -> str:
    """A package's version in uv.lock (the Dagster chart is pinned to Dagster's)."""
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    for entry in lock.get("package", []):
        if entry["name"] == package:
            return str(entry["version"])
    raise FloeError(f"{package} is not in uv.lock", "run `uv lock`")
