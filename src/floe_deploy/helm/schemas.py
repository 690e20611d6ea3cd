"""JSON schemas the validators need: CRDs (Argo CD, Flux, External Secrets, Sealed Secrets) and
the official dagster chart's values schemas.

They come from `schemas_dir` (FLOE_SCHEMAS_DIR; layout `crds/<group>/<kind>_<version>.json` and
`dagster/values.schema.json`), else from a cache in the state directory, filled on first use from
the pinned upstream sources below. Kubernetes' own schemas ship with `kubernetes-validate`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from floe_deploy.errors import FloeError
from floe_deploy.settings import Settings

CRD_CATALOG = (
    "https://raw.githubusercontent.com/datreeio/CRDs-catalog/"
    "7b1e26ef9deea49293714d204c1a2270aab1178f/{group}/{kind}_{version}.json"
)
DAGSTER_SCHEMAS = {
    "values.schema.json": "https://raw.githubusercontent.com/dagster-io/dagster/"
    "bdb8547fab497826eeec292bc160b549a0a329ef/helm/dagster/values.schema.json",
    "dagster-user-deployments.values.schema.json": "https://raw.githubusercontent.com/dagster-io/dagster/"
    "b8d7b2530862566f7ae5450a0e5387ab04c784c6/helm/dagster/charts/dagster-user-deployments/values.schema.json",
}
KUBERNETES_DEFINITIONS_VERSION = "v1.29.0"
"""Kubernetes definitions served for the dagster schema's remote `$ref`s (a superset of 1.18's)."""


class SchemaStore:
    """Finds each schema in the configured directory or the cache, fetching into the cache once."""

    def __init__(self, settings: Settings) -> None:
        self.configured = settings.schemas_dir
        self.root = settings.schemas_dir or settings.state_dir / "schemas"

    def _file(self, relative: str, url: str) -> Path:
        path = self.root / relative
        if path.is_file():
            return path
        if self.configured is not None:
            raise FloeError(
                f"schema {relative} is not in {self.configured}",
                "point FLOE_SCHEMAS_DIR at a directory with crds/ and dagster/ (see docs/06), "
                "or unset it to fetch the pinned upstream schemas",
            )
        try:
            response = httpx.get(url, timeout=20, follow_redirects=True)
            response.raise_for_status()
            json.loads(response.text)
        except (httpx.HTTPError, ValueError) as error:
            raise FloeError(
                f"schema {relative} is not cached and fetching {url} failed ({error})",
                "set FLOE_SCHEMAS_DIR to a directory with crds/ and dagster/ (e.g. a copy made on a "
                "connected machine)",
            ) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(response.text)
        return path

    def crd_path(self, api_version: str, kind: str) -> Path:
        group, _, version = api_version.rpartition("/")
        relative = f"crds/{group}/{kind.lower()}_{version}.json"
        return self._file(
            relative, CRD_CATALOG.format(group=group, kind=kind.lower(), version=version)
        )

    def crd_validator(self, api_version: str, kind: str) -> Validator:
        return _validator(self.crd_path(api_version, kind))

    def dagster_validator(self, name: str = "values.schema.json") -> Validator:
        return _dagster_validator(self._file(f"dagster/{name}", DAGSTER_SCHEMAS[name]))


@cache
def _validator(path: Path) -> Validator:
    schema = json.loads(path.read_text())
    validator: Validator = Draft202012Validator(schema)
    return validator


@cache
def kubernetes_definitions() -> dict[str, Any]:
    """Kubernetes definitions bundled with kubernetes-validate, under both keys refs may use."""
    bundled = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/{KUBERNETES_DEFINITIONS_VERSION}-local/_definitions.json"
    )
    definitions = json.loads(bundled.read_text())["$defs"]
    return {"definitions": definitions, "$defs": definitions}


KUBERNETES_DEFINITIONS_REF = re.compile(
    r"^https?://[^#]*/_definitions\.json#/definitions/(?P<pointer>.+)$"
)
"""A remote `$ref` into Kubernetes' definitions (kubernetesjsonschema.dev, yannh's mirror, ...)."""


def embed_kubernetes_definitions(schema: dict[str, Any], source: str) -> int:
    """Point a chart schema's remote Kubernetes `$ref`s at definitions embedded in the schema
    itself, taken from the bundled ones (what newer dagster charts do upstream), so Helm
    validates values offline. Returns how many refs were rewritten; any other remote `$ref`
    is an error that names it. The schema is changed in place."""
    key = "definitions" if "definitions" in schema and "$defs" not in schema else "$defs"
    bundled = kubernetes_definitions()["$defs"]
    needed: set[str] = set()
    rewritten = 0

    def visit(node: Any, *, own: bool) -> None:
        nonlocal rewritten
        if isinstance(node, list):
            for item in node:
                visit(item, own=own)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and own and not ref.startswith("#"):
            match = KUBERNETES_DEFINITIONS_REF.match(ref)
            if match is None:
                raise FloeError(
                    f"{source} refers to {ref}, which cannot be resolved offline",
                    "vendor that document into the chart's schema, or report the chart version",
                )
            node["$ref"] = f"#/{key}/{match['pointer']}"
            needed.add(match["pointer"].split("/", 1)[0])
            rewritten += 1
        elif isinstance(ref, str) and not own and ref.startswith("#/$defs/"):
            node["$ref"] = f"#/{key}/{ref.removeprefix('#/$defs/')}"
            needed.add(ref.removeprefix("#/$defs/").split("/", 1)[0])
        for value in node.values():
            visit(value, own=own)

    visit(schema, own=True)
    embedded: dict[str, Any] = {}
    while pending := needed - embedded.keys():
        for name in sorted(pending):
            if name not in bundled:
                raise FloeError(
                    f"{source} refers to the Kubernetes definition {name}, which the bundled "
                    f"Kubernetes {KUBERNETES_DEFINITIONS_VERSION} schemas lack",
                    "report the chart version",
                )
            embedded[name] = json.loads(json.dumps(bundled[name]))
            visit(embedded[name], own=False)
    definitions = schema.setdefault(key, {})
    for name, definition in embedded.items():
        if name in definitions and definitions[name] != definition:
            raise FloeError(
                f"{source} already defines {name} differently", "report the chart version"
            )
        definitions[name] = definition
    return rewritten


def without_required(schema: Any) -> Any:
    """The schema minus its `required` lists: they describe the chart's fully merged values,
    while floe's values files hold overrides only (Helm checks the merged result itself)."""
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(item) for item in schema]
    return schema


@cache
def _dagster_validator(path: Path) -> Validator:
    """The dagster chart's values schema for overrides, its remote Kubernetes `$ref`s served
    from the bundled definitions."""

    def retrieve(uri: str) -> Resource[Any]:
        if uri.endswith("_definitions.json"):
            return Resource.from_contents(kubernetes_definitions(), default_specification=DRAFT7)
        raise FloeError(f"the dagster values schema refers to {uri}", "report this schema version")

    validator: Validator = Draft7Validator(
        without_required(json.loads(path.read_text())),
        registry=Registry(retrieve=retrieve),  # type: ignore[call-arg]
    )
    return validator
