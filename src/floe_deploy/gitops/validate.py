"""gitops.validate: every document against its schema, every reference resolved, no plaintext
secret, and the chart rendered and validated with each environment's values.

Kubernetes kinds are checked against the Kubernetes 1.29-1.34 schemas, Argo CD, Flux, External
Secrets and Sealed Secrets kinds against their CRD schemas; a kind without a schema is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, computed_field

from floe_deploy.errors import FloeError
from floe_deploy.gitops import kyverno
from floe_deploy.gitops.controllers import (
    Cluster,
    controller_problems,
    environment_drift,
    store_problems,
)
from floe_deploy.gitops.manifests import (
    ENVIRONMENTS,
    KUSTOMIZE_API,
    PRE_EXISTING,
    SOPS_CONFIG,
    Document,
    GitOpsTree,
    load_tree,
    relative,
)
from floe_deploy.gitops.secrets import is_sops_encrypted, plaintext_secrets
from floe_deploy.helm.chart import (
    CHART_DIR,
    RenderedObject,
    chart_metadata,
    deep_merge,
    load_values,
)
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.helm.validate import check_object, validate_chart
from floe_deploy.settings import Settings

TEMPLATE_PATH = re.compile(r"\{\{\s*\.path\.basename\s*\}\}")


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


class Produced(BaseModel):
    """Names that documents in the tree make, for reference checks."""

    secrets: set[str]
    secret_keys: dict[str, set[str]]
    """Keys of the Secrets an ExternalSecret makes (for valuesFrom valuesKey)."""
    config_maps: set[str]
    pre_existing: set[str]
    projects: set[str]
    kustomizations: set[str]
    git_repositories: set[str]
    oci_repositories: dict[str, Document]


def _produced(tree: GitOpsTree) -> Produced:
    secrets, config_maps, pre_existing = set(), set(), set()
    secret_keys: dict[str, set[str]] = {}
    for document in tree.documents:
        body, kind = document.body, document.kind
        if kind == "ExternalSecret":
            spec = body.get("spec") or {}
            target = spec.get("target") or {}
            name = target.get("name") or document.name
            secrets.add(name)
            templated = ((target.get("template") or {}).get("data") or {}).keys()
            secret_keys[name] = set(templated) or {
                str(d.get("secretKey")) for d in spec.get("data") or []
            }
        elif kind == "SealedSecret" or (kind == "Secret" and is_sops_encrypted(body)):
            secrets.add(document.name)
        elif kind == "Kustomization" and document.api_version.startswith(KUSTOMIZE_API):
            config_maps |= {g["name"] for g in body.get("configMapGenerator") or []}
            secrets |= {g["name"] for g in body.get("secretGenerator") or []}
        elif document.file.endswith(PRE_EXISTING):
            pre_existing |= {entry["name"] for entry in body.get("preExistingSecrets") or []}
    for values_file in tree.values_files.values():
        values = load_values(values_file)
        secret_values = values.get("secrets") or {}
        if (secret_values.get("externalSecret") or {}).get("enabled") or (
            secret_values.get("sealedSecret") or {}
        ).get("enabled"):
            secrets.add(secret_values.get("secretName", "floe-secrets"))
    return Produced(
        secrets=secrets,
        secret_keys=secret_keys,
        config_maps=config_maps,
        pre_existing=pre_existing,
        projects={d.name for d in tree.of_kind("AppProject")},
        kustomizations={d.name for d in tree.of_kind("Kustomization")},
        git_repositories={d.name for d in tree.of_kind("GitRepository")},
        oci_repositories={d.name: d for d in tree.of_kind("OCIRepository")},
    )


def _secret_ref(name: str | None, produced: Produced, where: str) -> list[str]:
    if not name or name in produced.secrets or name in produced.pre_existing:
        return []
    return [f"{where}: Secret {name!r} is made by no ExternalSecret, SealedSecret or SOPS file, "
            f"and is not listed in {PRE_EXISTING}"]  # fmt: skip


def _repo_path(tree: GitOpsTree, path: str, where: str) -> list[str]:
    target = tree.repo_root / path.removeprefix("./").removeprefix("$values/")
    return [] if target.exists() else [f"{where}: {path} does not exist in the repository"]


def _argo_sources(
    spec: dict[str, Any], tree: GitOpsTree, produced: Produced, expand: list[str]
) -> list[str]:
    errors = []
    if spec.get("project") not in produced.projects:
        errors.append(f"project {spec.get('project')!r} is not an AppProject under gitops/")
    chart = chart_metadata(CHART_DIR)["name"]
    for source in spec.get("sources") or [spec.get("source") or {}]:
        if source.get("chart") and source["chart"] != chart:
            errors.append(f"chart {source['chart']!r} is not {chart}")
        if source.get("path"):
            errors += _repo_path(tree, source["path"], "source.path")
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            for basename in expand or [""]:
                concrete = TEMPLATE_PATH.sub(basename, value_file)
                errors += _repo_path(tree, concrete, "helm.valueFiles")
    return errors


def _application(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    return _argo_sources(document.body.get("spec") or {}, tree, produced, [])


def _application_set(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    spec = document.body.get("spec") or {}
    errors, basenames = [], []
    for generator in spec.get("generators") or []:
        for entry in (generator.get("git") or {}).get("files") or []:
            matches = [p for p in tree.repo_root.glob(entry["path"]) if p.is_file()]
            if not matches:
                errors.append(f"generator path {entry['path']} matches no file")
            basenames += [m.parent.name for m in matches]
            for match in matches:
                release = load_values(match).get("release") or {}
                if not (release.get("chartRepository") and release.get("chartVersion")):
                    errors.append(
                        f"{relative(match, tree.repo_root)} has no release.chartRepository/chartVersion"
                    )
    template = (spec.get("template") or {}).get("spec") or {}
    return errors + _argo_sources(template, tree, produced, basenames)


def _helm_release(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    spec = document.body.get("spec") or {}
    errors = []
    reference = spec.get("chartRef") or {}
    if (
        reference.get("kind") == "OCIRepository"
        and reference.get("name") not in produced.oci_repositories
    ):
        errors.append(f"chartRef OCIRepository {reference.get('name')!r} is not defined")
    for source in spec.get("valuesFrom") or []:
        if source.get("kind") == "ConfigMap" and source["name"] not in produced.config_maps:
            errors.append(
                f"valuesFrom ConfigMap {source['name']!r} is generated by no kustomization"
            )
        if source.get("kind") == "Secret":
            errors += _secret_ref(source["name"], produced, "valuesFrom")
            keys = produced.secret_keys.get(source["name"])
            key = source.get("valuesKey", "values.yaml")
            if keys is not None and key not in keys:
                errors.append(
                    f"valuesFrom key {key} is not in the Secret {source['name']} ({', '.join(sorted(keys))})"
                )
    return errors


def _oci_repository(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    spec = document.body.get("spec") or {}
    verify = ((spec.get("verify") or {}).get("secretRef") or {}).get("name")
    pull = (spec.get("secretRef") or {}).get("name")
    return _secret_ref(verify, produced, "verify") + _secret_ref(pull, produced, "secretRef")


def _flux_kustomization(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    spec = document.body.get("spec") or {}
    errors = _repo_path(tree, spec["path"], "path") if spec.get("path") else []
    source = spec.get("sourceRef") or {}
    if (
        source.get("kind") == "GitRepository"
        and source.get("name") not in produced.git_repositories
    ):
        errors.append(f"sourceRef GitRepository {source.get('name')!r} is not defined")
    errors += [f"dependsOn {d['name']!r} is no Kustomization" for d in spec.get("dependsOn") or []
               if d["name"] not in produced.kustomizations]  # fmt: skip
    decryption = ((spec.get("decryption") or {}).get("secretRef") or {}).get("name")
    return errors + _secret_ref(decryption, produced, "decryption")


def _kustomize_config(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    directory = tree.repo_root / Path(document.file).parent
    errors = [f"resource {r} does not exist next to the kustomization"
              for r in document.body.get("resources") or [] if not (directory / r).exists()]  # fmt: skip
    for generator in document.body.get("configMapGenerator") or []:
        errors += [f"configMapGenerator file {f} does not exist" for f in generator.get("files") or []
                   if not (directory / f.split("=")[-1]).exists()]  # fmt: skip
    return errors


REFERENCE_CHECKS = {
    "Application": _application,
    "ApplicationSet": _application_set,
    "HelmRelease": _helm_release,
    "OCIRepository": _oci_repository,
}


def _references(document: Document, tree: GitOpsTree, produced: Produced) -> list[str]:
    if document.kind == "Kustomization":
        flux_or_kustomize = _flux_kustomization if document.is_kubernetes else _kustomize_config
        return flux_or_kustomize(document, tree, produced)
    check = REFERENCE_CHECKS.get(document.kind)
    return check(document, tree, produced) if check is not None else []


def _configuration_files(tree: GitOpsTree) -> set[str]:
    """Files a kustomization names under `configurations:` (transformer settings, not objects)."""
    return {
        str(Path(d.file).parent / c)
        for d in tree.documents if d.api_version.startswith(KUSTOMIZE_API)
        for c in d.body.get("configurations") or []
    }  # fmt: skip


def _file_rules(document: Document, configurations: set[str]) -> list[str] | None:
    """Files that are not Kubernetes objects, by their own rules (None: not one of them)."""
    body = document.body if isinstance(document.body, dict) else {}
    if document.file.endswith(SOPS_CONFIG):
        keys = ("age", "pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri")
        rules = body.get("creation_rules")
        ok = rules and all(any(k in rule for k in keys) for rule in rules)
        return [] if ok else ["creation_rules must name a key (age, pgp, kms, …) for every rule"]
    if document.file.endswith(PRE_EXISTING):
        entries = body.get("preExistingSecrets")
        ok = isinstance(entries, list) and all({"name", "why"} <= set(e) for e in entries)
        return [] if ok else ["preExistingSecrets must list entries with name and why"]
    if document.file in configurations:
        references = body.get("nameReference")
        ok = isinstance(references, list) and all(
            {"kind", "fieldSpecs"} <= set(r) for r in references
        )
        return (
            []
            if ok
            else ["a kustomize configuration needs nameReference entries with kind and fieldSpecs"]
        )
    if document.api_version.startswith(KUSTOMIZE_API):
        known = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "secretGenerator",
                 "generatorOptions", "patches", "images", "components", "namePrefix", "nameSuffix", "labels",
                 "commonAnnotations", "configurations"}  # fmt: skip
        unknown = sorted(set(body) - known)
        return [f"unknown kustomization field {unknown[0]!r}"] if unknown else []
    return None


def _schema(document: Document, store: SchemaStore, configurations: set[str]) -> list[str]:
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
    return check.schema_errors


def _environment(
    settings: Settings,
    tree: GitOpsTree,
    environment: str,
    *,
    path: Path,
    chart_dir: Path,
    produced: Produced,
    render: bool = True,
) -> EnvironmentCheck:
    label = relative(path, tree.repo_root)
    check = EnvironmentCheck(environment=environment, values_file=label)
    values = load_values(path)
    merged = deep_merge(load_values(chart_dir / "values.yaml"), values)
    secret_name = (merged.get("secrets") or {}).get("secretName")
    check.errors += _secret_ref(secret_name, produced, "secrets.secretName")
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
            check.errors += _secret_ref(
                secret.get("name"), produced, f"user deployment {deployment.get('name')}"
            )
    repository = next(
        (
            d
            for d in tree.of_kind("OCIRepository")
            if (tree.repo_root / d.file).parent == path.parent
        ),
        None,
    )
    if repository is not None:
        spec = repository.body.get("spec") or {}
        digest = (spec.get("ref") or {}).get("digest")
        if release.get("chartDigest") and digest != release.get("chartDigest"):
            check.errors.append(
                f"OCIRepository ref.digest {digest!r} differs from release.chartDigest {release.get('chartDigest')!r}"
            )
        if (spec.get("ref") or {}).get("tag") != str(release.get("chartVersion")):
            check.errors.append(
                f"OCIRepository ref.tag {spec.get('ref', {}).get('tag')!r} differs from release.chartVersion {release.get('chartVersion')!r}"
            )
        expected = (
            f"{release.get('chartRepository', '').rstrip('/')}/{chart_metadata(chart_dir)['name']}"
        )
        if spec.get("url") != expected:
            check.errors.append(f"OCIRepository url {spec.get('url')!r} is not {expected!r}")
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
    environment: str, path: Path, chart_dir: Path, produced: Produced, cluster: Cluster
) -> list[str]:
    """The environment's secret store (admitting its namespace) and registry logins."""
    merged = deep_merge(load_values(chart_dir / "values.yaml"), load_values(path))
    errors = []
    external = (merged.get("secrets") or {}).get("externalSecret") or {}
    if external.get("enabled"):
        errors += [
            f"secrets.externalSecret: {p}"
            for p in store_problems(external.get("secretStoreRef") or {}, [f"floe-{environment}"], cluster)
        ]  # fmt: skip
    image = merged.get("image") or {}
    reference = f"{image.get('repository')}:{image.get('tag')}"
    admitted = [
        p for d in cluster.tree.of_kind("ClusterPolicy") if d.file in cluster.deployed
        for p in kyverno.verified_repositories(d)
    ]  # fmt: skip
    if not kyverno.covers(admitted, reference):
        errors.append(
            f"no deployed admission policy requires a signature for {reference} "
            "(gitops/policies: add its repository to imageReferences)"
        )
    dagster = merged.get("dagster") or {}
    logins = [*(merged.get("imagePullSecrets") or []), *(dagster.get("imagePullSecrets") or []),
              *((dagster.get("dagster-user-deployments") or {}).get("imagePullSecrets") or [])]  # fmt: skip
    for login in logins:
        errors += _secret_ref(login.get("name"), produced, "imagePullSecrets")
    return sorted(set(errors))


def validate_gitops(
    settings: Settings, root: Path, chart_dir: Path = CHART_DIR, *, render: bool = True
) -> GitOpsReport:
    """Every manifest, and (unless `render` is off) the chart rendered with each environment."""
    tree = load_tree(root)
    store = SchemaStore(settings)
    produced = _produced(tree)
    cluster = Cluster(tree)
    configurations = _configuration_files(tree)
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
                else _schema(document, store, configurations),
                reference_errors=[
                    *(_references(document, tree, produced) if document.kind else []),
                    *controller_problems(document, cluster),
                ],
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
    drift = environment_drift(tree)
    for environment, path in sorted(tree.values_files.items(), key=lambda item: _order(item[0])):
        check = _environment(
            settings, tree, environment, path=path, chart_dir=chart_dir, produced=produced,
            render=render,
        )  # fmt: skip
        check.errors += drift.get(environment, []) + _environment_references(
            environment, path, chart_dir, produced, cluster
        )
        environments.append(check)
    return GitOpsReport(documents=documents, environments=environments, chart_rendered=render)


def _order(environment: str) -> int:
    return ENVIRONMENTS.index(environment) if environment in ENVIRONMENTS else len(ENVIRONMENTS)
