"""helm.validate: render each values file and check every object.

Checks per object: the Kubernetes schema of each supported version (strict: unknown fields are
errors), or the CRD's schema for custom resources (a kind without a schema is an error), and
Pod Security "restricted" for workloads. Per values file: the umbrella's own schema, the
`dagster:` subtree against the official chart's values schema, the official chart's workloads
as configured by those values, the wiring between the two (Secret and ConfigMap names), the run
pods as dagster-k8s builds them, the private CA in every TLS-speaking pod
(`floe_deploy.helm.ca_bundle`) and a warning for each Postgres connection that does not verify
against it, and the network flows the NetworkPolicies must let through
(network-config-analyzer, `floe_deploy.helm.network_flows`).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from kubernetes_validate import utils as kv
from pydantic import BaseModel, ValidationError, computed_field
from referencing import Registry, Resource

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm import pss
from floe_deploy.helm.ca_bundle import ca_errors
from floe_deploy.helm.chart import (
    CHART_DIR,
    NAMED_VALUES,
    RenderedObject,
    chosen_values,
    values_path,
)
from floe_deploy.helm.images import image_errors, pod_images
from floe_deploy.helm.network_flows import check_flows
from floe_deploy.helm.rendering import RenderedDependency, prepare_chart, render
from floe_deploy.helm.run_pods import run_jobs, run_pod_errors
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.helm.values_model import UmbrellaValues
from floe_deploy.settings import Settings

DAGSTER_TEMPLATES = f"{CHART_DIR.name}/charts/dagster/"
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34")
CRD_GROUPS = {
    "argoproj.io", "bitnami.com", "external-secrets.io", "helm.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io", "source.toolkit.fluxcd.io",
}  # fmt: skip


class ObjectCheck(BaseModel):
    values: str
    template: str
    object: str
    schema_checked: str
    schema_errors: list[str] = []
    pss_errors: list[str] | None = None
    warnings: list[str] = []
    """Rules the chart that renders the object offers no way to satisfy (its gap, named)."""

    @property
    def ok(self) -> bool:
        return not self.schema_errors and not self.pss_errors


class ValuesCheck(BaseModel):
    values: str
    objects: int
    errors: list[str] = []
    warnings: list[str] = []
    """What the values allow but probably do not mean (a private CA its Postgres clients ignore)."""


class ValidationReport(BaseModel):
    kubernetes_versions: list[str]
    dependencies: list[RenderedDependency] = []
    schema_refs_embedded: int = 0
    values_files: list[ValuesCheck]
    objects: list[ObjectCheck]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return all(not v.errors for v in self.values_files) and all(o.ok for o in self.objects)


@cache
def _kubernetes_validator(version: str, api_version: str, kind: str) -> Validator | None:
    """kubernetes-validate's strict schema for the kind, loaded once (its `validate` reloads it)."""
    schema_version = [v for v in kv.all_versions() if kv.major_minor(v) <= version][-1]
    group = (
        api_version.split("/", maxsplit=1)[0].split(".", maxsplit=1)[0]
        if "/" in api_version
        else ""
    )
    name = f"{group}-{api_version.rsplit('/', maxsplit=1)[-1]}" if group else api_version
    directory = f"kubernetes-json-schema/v{schema_version}-local-strict"
    try:
        schema = kv.schema_contents(f"{directory}/{kind.lower()}-{name}.json", version)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"{directory}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (
        Resource.from_contents(schema) @ Registry()
    )
    validator: Validator = Draft202012Validator(schema, registry=registry)
    return validator


def _errors(validator: Validator, document: dict[str, Any], limit: int = 5) -> list[str]:
    found = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found[:limit]
    ]


def check_object(item: RenderedObject, store: SchemaStore, values: str) -> ObjectCheck:
    group = item.api_version.split("/")[0] if "/" in item.api_version else ""
    errors: list[str] = []
    if group in CRD_GROUPS:
        checked = f"CRD {item.api_version}"
        errors = _errors(store.crd_validator(item.api_version, item.kind), item.document)
    else:
        checked = f"Kubernetes {KUBERNETES_VERSIONS[0]}-{KUBERNETES_VERSIONS[-1]}"
        for version in KUBERNETES_VERSIONS:
            validator = _kubernetes_validator(version, item.api_version, item.kind)
            if validator is None:
                errors.append(f"{version}: no schema for {item.api_version} {item.kind}")
                continue
            errors += [f"{version}: {e}" for e in _errors(validator, item.document)]
    problems = pss.workload_problems(item.document)
    warnings = []
    if problems and item.template.startswith(DAGSTER_TEMPLATES):
        # The dagster chart renders its init containers with no volumeMounts of the user's.
        gaps = {f"{name}: {pss.TMP_RULE}" for name in pss.init_container_names(item.document)}
        warnings = [
            f"{p}: the dagster chart offers no volumeMounts for its init containers (chart gap)"
            for p in problems
            if p in gaps
        ]
        problems = [p for p in problems if p not in gaps]
    return ObjectCheck(
        values=values,
        template=item.template,
        object=item.label,
        schema_checked=checked,
        schema_errors=errors,
        pss_errors=problems,
        warnings=warnings,
    )


def _image_mismatches(repository: str, tag: str, dagster: dict[str, Any]) -> list[str]:
    """Every floe workload of the dagster chart runs the one runtime image, `image`."""
    wanted = f"{repository}:{tag}"
    workloads = {
        "dagster.dagsterWebserver.image": dagster.get("dagsterWebserver", {}).get("image"),
        "dagster.dagsterDaemon.image": dagster.get("dagsterDaemon", {}).get("image"),
    }
    for deployment in (dagster.get("dagster-user-deployments") or {}).get("deployments") or []:
        workloads[f"user deployment {deployment.get('name')} image"] = deployment.get("image")
    errors = []
    for where, image in workloads.items():
        found = f"{(image or {}).get('repository')}:{(image or {}).get('tag')}"
        if found != wanted:
            errors.append(
                f"{where} is {found}, not the runtime image {wanted} (make it an alias of `image`)"
            )
    return errors


def check_values(merged: dict[str, Any], store: SchemaStore) -> list[str]:
    """The values as a whole: umbrella schema, dagster schema, dagster workloads, wiring."""
    errors = []
    try:
        umbrella = UmbrellaValues.model_validate(merged)
    except ValidationError as error:
        first = error.errors()[0]
        return [f"{'.'.join(map(str, first['loc']))}: {first['msg']}"]
    dagster = umbrella.dagster
    validator = store.dagster_validator()
    for problem in validator.iter_errors(dagster):
        detail = min(problem.context or [problem], key=lambda e: len(list(e.absolute_path)) * -1)
        where = ".".join(map(str, detail.absolute_path))
        errors.append(f"dagster.{where}: {detail.message[:300]}")
    errors += [f"dagster workloads: {p}" for p in pss.dagster_values_problems(dagster)]
    secret = (dagster.get("global") or {}).get("postgresqlSecretName")
    if secret != umbrella.secrets.secretName:
        errors.append(
            f"dagster.global.postgresqlSecretName is {secret!r}, not secrets.secretName "
            f"{umbrella.secrets.secretName!r}"
        )
    if dagster.get("generatePostgresqlPasswordSecret", True):
        errors.append(
            "dagster.generatePostgresqlPasswordSecret must be false (the Secret comes from secrets.*)"
        )
    errors += _image_mismatches(umbrella.image.repository, umbrella.image.tag, dagster)
    if (dagster.get("migrate") or {}).get("enabled"):
        errors.append(
            "dagster.migrate.enabled: the dagster chart's migrate Job runs `dagster instance "
            "migrate` beside the old daemon and webserver, and the next upgrade that changes its "
            "image fails (a Job's template is immutable). Leave it off: upgrade.migrate (on by "
            "default) migrates in a pre-upgrade hook with both stopped (docs/06, 'Upgrade and "
            "rollback')"
        )
    if umbrella.artifacts.enabled:
        name = umbrella.artifacts.configMapName
        for deployment in (dagster.get("dagster-user-deployments") or {}).get("deployments") or []:
            mounted = [
                v for v in deployment.get("volumes") or []
                if (v.get("configMap") or {}).get("name") == name
            ]  # fmt: skip
            if not mounted:
                errors.append(
                    f"user deployment {deployment.get('name')} does not mount the artifacts ConfigMap {name}"
                )
    return errors


def postgres_tls_warnings(merged: dict[str, Any]) -> list[str]:
    """With a private CA (tls.caBundle), each external Postgres connection that does not verify
    the server against it (sslmode below verify-full): require and weaker accept any server.
    A warning, not an error: the CA may be there for S3 or the catalog only."""
    try:
        values = UmbrellaValues.model_validate(merged)
    except ValidationError:
        return []  # check_values names the first error
    if values.tls.caBundle is None:
        return []
    dagster_pg = values.dagster.get("postgresql") or {}
    modes: dict[str, str] = {}
    if not dagster_pg.get("enabled", True):
        params = dagster_pg.get("postgresqlParams") or {}
        modes["dagster.postgresql.postgresqlParams.sslmode"] = params.get("sslmode", "prefer")
    if values.artifacts.enabled:
        modes["artifacts.serving.postgres.sslmode"] = values.artifacts.serving.postgres.sslmode
        catalog = values.artifacts.catalog
        if catalog.type == "sql" and catalog.postgres is not None:
            modes["artifacts.catalog.postgres.sslmode"] = catalog.postgres.sslmode
    return [
        f"{where} is {mode} although tls.caBundle names a private CA: the server is not verified "
        "against it; set verify-full (the CA must sign the server's certificate for that host)"
        for where, mode in modes.items()
        if mode != "verify-full"
    ]


def workload_errors(label: str, objects: list[RenderedObject], merged: dict[str, Any]) -> list[str]:
    """What the render's pods, run pods included, get wrong: drift and Pod Security of the run
    pods, images outside `imageRegistry` (or short names), a TLS-speaking pod without the private
    CA of `tls.caBundle`, and the network flows its NetworkPolicies deny (or must deny and allow)."""
    runs = run_jobs(objects)
    errors = run_pod_errors(runs, merged.get("dagster") or {})
    try:
        values = UmbrellaValues.model_validate(merged)
    except ValidationError:
        return errors  # check_values names the first error; these need valid values
    errors += image_errors(pod_images(objects, runs), values.imageRegistry)
    errors += ca_errors(values.tls, objects, runs)
    return errors + check_flows(label, objects, runs, merged).errors


@cache
def run_pod_worker() -> ProcessPoolExecutor:
    """The process where dagster-k8s builds run pods while this one checks schemas.

    dagster-k8s's imports take seconds, so one worker serves every validation of this process
    (concurrent.futures joins it at exit). Spawned, not forked: the Helm SDK's Go runtime must
    not be forked.
    """
    return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))


def validate_chart(
    settings: Settings,
    sources: list[str] | None = None,
    sets: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
) -> ValidationReport:
    """Validate the chart with each values source (default: every values file of the chart)."""
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    store = SchemaStore(settings)
    chosen = sources or list(NAMED_VALUES)
    values_checks, objects = [], []
    worker = run_pod_worker()
    for source in chosen:
        path = values_path(source, chart_dir)
        user_values = chosen_values(path, sets)
        merged = chosen_values(path, sets, chart_dir=chart_dir, over_defaults=True)
        label = source if source in NAMED_VALUES else str(path)
        rendered = render(user_values, chart)
        run_pods = worker.submit(workload_errors, label, rendered, merged)
        errors = check_values(merged, store)
        objects += [check_object(item, store, label) for item in rendered]
        values_checks.append(
            (label, len(rendered), errors, postgres_tls_warnings(merged), run_pods)
        )
    try:
        checked = [
            ValuesCheck(values=label, objects=count, errors=errors + run_pods.result(), warnings=warnings)
            for label, count, errors, warnings, run_pods in values_checks
        ]  # fmt: skip
    except BrokenProcessPool:
        run_pod_worker.cache_clear()
        raise FloeError(
            "the worker that builds run pods with dagster-k8s died",
            "run again; if it repeats, `python -c 'import dagster_k8s'` shows the import error",
            exit_code=ExitCode.FAILURE,
        ) from None
    return ValidationReport(
        kubernetes_versions=list(KUBERNETES_VERSIONS),
        dependencies=list(chart.dependencies),
        schema_refs_embedded=chart.schema_refs_embedded,
        values_files=checked,
        objects=objects,
    )
