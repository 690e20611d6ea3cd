"""gitops.validate: every document against its schema, every reference resolved, no plaintext
secret, and the chart rendered and validated with each environment's values.

Kubernetes kinds are checked against the Kubernetes 1.29-1.34 schemas, Argo CD, Flux, External
Secrets and Sealed Secrets kinds against their CRD schemas; a kind without a schema is an error.
Each controller's module holds its rules; this one runs them (by kind, in one place) and checks
each environment's values.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, computed_field

from floe_deploy.errors import FloeError
from floe_deploy.gitops import argocd, external_secrets, flux, kustomize, kyverno, signing, sops
from floe_deploy.gitops.cluster import (
    Cluster,
    Rule,
    on_objects,
    pre_existing_problems,
    served_by_minimum,
)
from floe_deploy.gitops.manifests import ENVIRONMENTS, Document, GitOpsTree, load_tree, relative
from floe_deploy.gitops.secrets import plaintext_secrets
from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chosen_values, load_values
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.helm.validate import check_object, validate_chart
from floe_deploy.settings import Settings


class DocumentCheck(BaseModel):
    file: str
    object: str
    schema_errors: list[str] = []
    reference_errors: list[str] = []
    secret_errors: list[str] = []

    @property
    def ok(self) -> bool:
        return not (self.schema_errors or self.reference_errors or self.secret_errors)


class EnvironmentCheck(BaseModel):
    environment: str
    values_file: str
    objects: int = 0
    errors: list[str] = []


class GitOpsReport(BaseModel):
    documents: list[DocumentCheck]
    environments: list[EnvironmentCheck]
    chart_rendered: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.documents) and all(not e.errors for e in self.environments)


def _by_kind(*tables: dict[str, tuple[Rule, ...]]) -> dict[str, tuple[Rule, ...]]:
    merged: dict[str, tuple[Rule, ...]] = {}
    for table in tables:
        for kind, rules in table.items():
            merged[kind] = (*merged.get(kind, ()), *rules)
    return merged


RULES = _by_kind(
    argocd.RULES, flux.RULES, kustomize.RULES, external_secrets.RULES,
    {"ClusterPolicy": (on_objects(signing.check_policy),),
     "OCIRepository": (on_objects(signing.check_oci_verify),)},
)  # fmt: skip
"""Every controller's rules, by the kind of document they check."""
ANY_KIND: tuple[Rule, ...] = (
    kustomize.generated_config_maps,
    on_objects(served_by_minimum),
    on_objects(sops.recipients),
)
"""Rules that pick their documents by apiVersion or SOPS metadata, whatever the kind."""


def _reference_errors(document: Document, cluster: Cluster) -> list[str]:
    """The one dispatch: the rules for the document's kind, then those for any kind."""
    rules = (*RULES.get(document.kind, ()), *ANY_KIND)
    return [problem for rule in rules for problem in rule(document, cluster)]


def _file_rules(document: Document, configurations: set[str]) -> list[str] | None:
    """Files that are not Kubernetes objects, by their own rules (None: not one of them)."""
    for rule in (sops.config_problems, pre_existing_problems):
        found = rule(document)
        if found is not None:
            return found
    return kustomize.file_problems(document, configurations)


def _schema(
    document: Document, store: SchemaStore, configurations: set[str], cluster: Cluster
) -> list[str]:
    special = _file_rules(document, configurations)
    if special is not None:
        return special
    if not document.kind or not document.api_version:
        return ["not a Kubernetes object (no apiVersion/kind)"]
    body = {k: v for k, v in document.body.items() if k != "sops"}
    try:
        check = check_object(
            RenderedObject(template=document.file, document=body), store, document.file
        )
    except FloeError as error:  # no schema for this group/version: this document's error
        return [error.message]
    return check.schema_errors + _generated_schema_errors(document, store, cluster)


def _generated_schema_errors(document: Document, store: SchemaStore, cluster: Cluster) -> list[str]:
    """The Applications an ApplicationSet makes, against the Application schema (a misspelt
    field in templatePatch is no error of the ApplicationSet's own schema)."""
    if document.kind != "ApplicationSet" or not document.is_kubernetes:
        return []
    applications, _ = argocd.generated_applications(document, cluster)
    errors = []
    for application in applications:
        body = {"apiVersion": document.api_version, "kind": "Application", **application.body}
        check = check_object(
            RenderedObject(template=document.file, document=body), store, document.file
        )
        errors += [
            f"Application {application.name} ({application.environment}): {e}"
            for e in check.schema_errors
        ]
    return errors


def _environment(
    settings: Settings,
    cluster: Cluster,
    environment: str,
    *,
    path: Path,
    chart_dir: Path,
    render: bool = True,
) -> EnvironmentCheck:
    label = relative(path, cluster.tree.repo_root)
    check = EnvironmentCheck(environment=environment, values_file=label)
    values = load_values(path)
    merged = chosen_values(path, chart_dir=chart_dir, over_defaults=True)
    secret_name = (merged.get("secrets") or {}).get("secretName")
    check.errors += cluster.unresolved_secret(secret_name, "secrets.secretName")
    release = values.get("release") or {}
    tag = (values.get("image") or {}).get("tag")
    for deployment in ((merged.get("dagster") or {}).get("dagster-user-deployments") or {}).get(
        "deployments"
    ) or []:
        if (deployment.get("image") or {}).get("tag") != tag:
            check.errors.append(
                f"user deployment {deployment.get('name')} runs tag {deployment['image'].get('tag')!r}, image.tag is {tag!r}"
            )
        for secret in deployment.get("envSecrets") or []:
            check.errors += cluster.unresolved_secret(
                secret.get("name"), f"user deployment {deployment.get('name')}"
            )
    check.errors += _one_release(values, environment)
    check.errors += flux.chart_source_problems(cluster.tree, path, release, chart_dir)
    check.errors += plaintext_secrets("values", values, values_file=True)
    if not render:
        return check
    try:
        report = validate_chart(settings, [str(path)], chart_dir=chart_dir)
    except FloeError as error:
        check.errors.append(f"chart: {error.message}")
        return check
    check.objects = len(report.objects)
    check.errors += [f"chart values: {e}" for v in report.values_files for e in v.errors]
    for item in report.objects:
        for problem in [*item.schema_errors, *(item.pss_errors or [])]:
            check.errors.append(f"chart {item.object}: {problem}")
    return check


def _environment_references(
    environment: str, path: Path, chart_dir: Path, cluster: Cluster
) -> list[str]:
    """The environment's secret store (admitting its namespace), its image's signature policy
    and registry logins."""
    merged = chosen_values(path, chart_dir=chart_dir, over_defaults=True)
    errors = external_secrets.chart_store_problems(merged, environment, cluster)
    image = merged.get("image") or {}
    errors += kyverno.unsigned_image(f"{image.get('repository')}:{image.get('tag')}", cluster)
    dagster = merged.get("dagster") or {}
    logins = [*(merged.get("imagePullSecrets") or []), *(dagster.get("imagePullSecrets") or []),
              *((dagster.get("dagster-user-deployments") or {}).get("imagePullSecrets") or [])]  # fmt: skip
    for login in logins:
        errors += cluster.unresolved_secret(login.get("name"), "imagePullSecrets")
    return sorted(set(errors))


def _version(text: str) -> Version | None:
    try:
        return Version(text.partition("@")[0])
    except InvalidVersion:
        return None


def _release_of(values: dict[str, Any]) -> dict[str, str]:
    release = values.get("release") or {}
    return {
        "image.tag": str((values.get("image") or {}).get("tag")),
        "release.chartVersion": str(release.get("chartVersion")),
        "release.chartDigest": str(release.get("chartDigest") or ""),
    }


def _one_release(values: dict[str, Any], environment: str) -> list[str]:
    """A release publishes its images and its chart at one version: an environment runs both
    from one release."""
    ran = _release_of(values)
    tag = ran["image.tag"].partition("@")[0]
    if tag == ran["release.chartVersion"]:
        return []
    return [
        f"image.tag {ran['image.tag']} and release.chartVersion {ran['release.chartVersion']} come "
        f"from different releases (a release publishes images and chart at one version): "
        f"promote one release into {environment} (invoke gitops.promote --release FILE --to "
        f"{ENVIRONMENTS[0]}, then --from each environment)"
    ]


def _drift(tree: GitOpsTree) -> dict[str, list[str]]:
    """A later environment running a version, or a digest, its predecessor does not: an edit,
    not a promotion."""
    found: dict[str, list[str]] = {}
    for earlier, later in itertools.pairwise(ENVIRONMENTS):
        if earlier not in tree.values_files or later not in tree.values_files:
            continue
        before = _release_of(load_values(tree.values_files[earlier]))
        after = _release_of(load_values(tree.values_files[later]))
        fix = f"a version reaches {later} only by promotion from {earlier} (invoke gitops.promote --from {earlier} --to {later})"
        for field in ("image.tag", "release.chartVersion"):
            was, now = before[field], after[field]
            old, new = _version(was), _version(now)
            if was == now:
                continue
            if old is None or new is None or new > old:
                found.setdefault(later, []).append(
                    f"{field} {now} is not what {earlier} runs ({was}): {fix}"
                )
            elif new == old:
                found.setdefault(later, []).append(
                    f"{field} {now} is {earlier}'s version with a digest {earlier} never ran "
                    f"({was}): {fix}"
                )
        same_chart = before["release.chartVersion"] == after["release.chartVersion"]
        if same_chart and before["release.chartDigest"] != after["release.chartDigest"]:
            found.setdefault(later, []).append(
                f"release.chartDigest {after['release.chartDigest'] or '(none)'} is not the digest "
                f"{earlier} runs for chart {after['release.chartVersion']} "
                f"({before['release.chartDigest'] or '(none)'}): {fix}"
            )
    return found


def validate_gitops(
    settings: Settings, root: Path, chart_dir: Path = CHART_DIR, *, render: bool = True
) -> GitOpsReport:
    """Every manifest, and (unless `render` is off) the chart rendered with each environment."""
    tree = load_tree(root)
    store = SchemaStore(settings)
    cluster = Cluster(tree)
    cluster.release_signing = signing.read_release_signing(tree, settings.release_repository)
    configurations = kustomize.configuration_files(tree)
    documents = [
        DocumentCheck(file=file, object="(file)", schema_errors=[f"not valid YAML: {message}"])
        for file, message in tree.parse_errors.items()
    ]
    policies = [d for d in tree.documents if kyverno.is_kyverno(d)]
    policy_errors = kyverno.schema_errors(policies) if policies else {}
    for document in tree.documents:
        if Path(document.file).name == "values.yaml" and document.file in {
            relative(p, tree.repo_root) for p in tree.values_files.values()
        }:
            continue
        documents.append(
            DocumentCheck(
                file=document.file,
                object=document.label,
                schema_errors=policy_errors[policies.index(document)]
                if document in policies
                else _schema(document, store, configurations, cluster),
                reference_errors=_reference_errors(document, cluster),
                secret_errors=plaintext_secrets(document.kind, document.body),
            )
        )
    missing = [e for e in ENVIRONMENTS if e not in tree.values_files]
    environments = [
        EnvironmentCheck(
            environment=e, values_file="-", errors=[f"environments/{e}/values.yaml is missing"]
        )
        for e in missing
    ]
    drift = _drift(tree)
    for environment, path in sorted(tree.values_files.items(), key=lambda item: _order(item[0])):
        check = _environment(
            settings, cluster, environment, path=path, chart_dir=chart_dir, render=render
        )
        check.errors += drift.get(environment, []) + _environment_references(
            environment, path, chart_dir, cluster
        )
        environments.append(check)
    return GitOpsReport(documents=documents, environments=environments, chart_rendered=render)


def _order(environment: str) -> int:
    return ENVIRONMENTS.index(environment) if environment in ENVIRONMENTS else len(ENVIRONMENTS)
