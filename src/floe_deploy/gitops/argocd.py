"""Argo CD: the rules for Applications and ApplicationSets.

References: the project is an AppProject here, a chart source names this chart, and source paths
and value files exist in the repository. An ApplicationSet is checked as the Applications it
makes: its git files generator, template and templatePatch evaluated for each matched file.

What Argo CD would refuse or get wrong on a fresh cluster: it creates a namespace
(CreateNamespace=true) only when the AppProject whitelists the cluster-scoped kind Namespace,
deploys only to the project's destinations, from its sourceRepos, and only the cluster-scoped
kinds it whitelists, and syncs prod only when a person asks (no `automated` policy reaching prod);
an Application deploying floe-<env> reads only <env>'s values and follows its chartVersion, and an
ApplicationSet's templates use the syntax `goTemplate` selects.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.gitops import gotemplate
from floe_deploy.gitops.cluster import Cluster, Rule, on_objects
from floe_deploy.gitops.environments import environment_of_namespace, foreign_paths, namespace_of
from floe_deploy.gitops.manifests import ENVIRONMENTS, Document, relative
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, load_values, parse_values

GO_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
GO_TEMPLATE_FUNCTIONS = {"if", "else", "end", "range", "with", "define", "template", "block"}
CLUSTER_SCOPED = {"Namespace", "ClusterSecretStore", "ClusterPolicy", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition"}  # fmt: skip


def _sources(spec: dict[str, Any], cluster: Cluster) -> list[str]:
    errors = []
    if spec.get("project") not in cluster.projects:
        errors.append(f"project {spec.get('project')!r} is not an AppProject under gitops/")
    chart = chart_metadata(CHART_DIR)["name"]
    for source in _source_list(spec):
        if source.get("chart") and source["chart"] != chart:
            errors.append(f"chart {source['chart']!r} is not {chart}")
        if source.get("path"):
            errors += cluster.unresolved_path(source["path"], "source.path")
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            errors += cluster.unresolved_path(str(value_file), "helm.valueFiles")
    return errors


def _source_list(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("sources") or [spec.get("source") or {}])


def _application_references(document: Document, cluster: Cluster) -> list[str]:
    return _sources(document.body.get("spec") or {}, cluster)


class GeneratedApplication(BaseModel):
    """One Application an ApplicationSet makes: for the environment of one generator match."""

    environment: str
    name: str
    body: dict[str, Any]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in patch.items()}}
    return patch


FAST_TEMPLATE = re.compile(r"\{\{\s*([\w.\-\[\]]+)\s*\}\}")


def _flat(parameters: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """fasttemplate's parameters: nested keys joined with dots."""
    flat: dict[str, str] = {}
    for key, value in parameters.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _render(node: Any, parameters: dict[str, Any], *, go: bool) -> Any:
    """Every string of the template, as goTemplate (or fasttemplate, which leaves unknown keys)."""
    if isinstance(node, dict):
        return {k: _render(v, parameters, go=go) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, parameters, go=go) for v in node]
    if not isinstance(node, str):
        return node
    if go:
        return gotemplate.render(node, parameters)
    flat = _flat(parameters)
    return FAST_TEMPLATE.sub(lambda m: flat.get(m.group(1), m.group(0)), node)


def generated_applications(
    document: Document, cluster: Cluster
) -> tuple[list[GeneratedApplication], list[str]]:
    """What the ApplicationSet's git files generators, template and templatePatch make, per
    matched file, as Argo CD renders them; and the errors that stop it."""
    spec = document.body.get("spec") or {}
    repo_root = cluster.tree.repo_root
    go = bool(spec.get("goTemplate"))
    if spec.get("templatePatch") and not go:
        return [], ["templatePatch is applied only with goTemplate: true: set it, or Argo CD "
                    "ignores the patch"]  # fmt: skip
    applications, errors = [], []
    for generator in spec.get("generators") or []:
        for entry in (generator.get("git") or {}).get("files") or []:
            for match in sorted(p for p in repo_root.glob(str(entry.get("path"))) if p.is_file()):
                directory = relative(match.parent, repo_root)
                parameters = {
                    **load_values(match),
                    "path": {"path": directory, "basename": match.parent.name,
                             "filename": match.name, "basenameNormalized": match.parent.name},
                }  # fmt: skip
                try:
                    body = _render(spec.get("template") or {}, parameters, go=go)
                    if go:
                        patch = gotemplate.render(str(spec.get("templatePatch") or ""), parameters)
                        body = _merge(body, parse_values(patch, "templatePatch") or {})
                except (gotemplate.TemplateError, FloeError) as error:
                    errors.append(
                        f"for {relative(match, repo_root)}: {error}: Argo CD makes no Application"
                    )
                    continue
                applications.append(
                    GeneratedApplication(
                        environment=match.parent.name,
                        name=str((body.get("metadata") or {}).get("name")),
                        body=body,
                    )
                )
    return applications, errors


def _application_set_references(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    repo_root = cluster.tree.repo_root
    errors = []
    for generator in spec.get("generators") or []:
        for entry in (generator.get("git") or {}).get("files") or []:
            matches = [p for p in repo_root.glob(entry["path"]) if p.is_file()]
            if not matches:
                errors.append(f"generator path {entry['path']} matches no file")
            for match in matches:
                release = load_values(match).get("release") or {}
                if not (release.get("chartRepository") and release.get("chartVersion")):
                    errors.append(
                        f"{relative(match, repo_root)} has no release.chartRepository/chartVersion"
                    )
    applications, template_errors = generated_applications(document, cluster)
    for application in applications:
        errors += [
            f"Application {application.name} ({application.environment}): {e}"
            for e in _sources(application.body.get("spec") or {}, cluster)
        ]
    return errors + template_errors


def _whitelisted(whitelist: list[dict[str, Any]], group: str, kind: str) -> bool:
    """Whether an AppProject's clusterResourceWhitelist admits the cluster-scoped kind."""
    return any(e.get("group") in {group, "*"} and e.get("kind") in {kind, "*"} for e in whitelist)


def _sync_options(spec: dict[str, Any]) -> list[str]:
    return [str(o) for o in (spec.get("syncPolicy") or {}).get("syncOptions") or []]


def _destination(
    spec: dict[str, Any], cluster: Cluster, *, template: bool, whitelist: bool = True
) -> list[str]:
    errors = []
    destination = spec.get("destination") or {}
    namespace = str(destination.get("namespace") or "")
    creates = "CreateNamespace=true" in _sync_options(spec)
    project = cluster.projects.get(str(spec.get("project")))
    if project is not None:
        project_spec = project.body.get("spec") or {}
        cluster_kinds = project_spec.get("clusterResourceWhitelist") or []
        if whitelist and creates and not _whitelisted(cluster_kinds, "", "Namespace"):
            errors.append(
                f"CreateNamespace=true, but AppProject {project.name} does not whitelist the "
                "cluster-scoped kind Namespace: the first sync fails with 'Namespace is not "
                "permitted in project'"
            )
        allowed = project_spec.get("destinations") or []
        if (
            not template
            and namespace
            and not any(fnmatch.fnmatch(namespace, str(a.get("namespace", "*"))) for a in allowed)
        ):
            errors.append(
                f"destination namespace {namespace} is not among AppProject {project.name}'s "
                f"destinations: Argo CD refuses the sync (add it to {project.file})"
            )
    if not template and namespace and not creates and not cluster.namespace_exists(namespace):
        errors.append(
            f"namespace {namespace} is made by nothing here (no Namespace, no CreateNamespace=true)"
        )
    return errors


def _cluster_kinds_allowed(spec: dict[str, Any], cluster: Cluster) -> list[str]:
    """Cluster-scoped objects an Application's path deploys must be in the project's whitelist."""
    project = cluster.projects.get(str(spec.get("project")))
    path = str((spec.get("source") or {}).get("path") or "")
    if project is None or not path:
        return []
    whitelist = (project.body.get("spec") or {}).get("clusterResourceWhitelist") or []
    errors = []
    for document in cluster.tree.documents:
        if document.kind not in CLUSTER_SCOPED or document.file not in cluster.deployed:
            continue
        if str(Path(document.file).parent) != path:
            continue
        group = document.api_version.split("/")[0] if "/" in document.api_version else ""
        if not _whitelisted(whitelist, group, document.kind):
            errors.append(
                f"{group or 'core'} {document.kind} is not whitelisted by AppProject {project.name} "
                f"(clusterResourceWhitelist): the sync of {document.label} is refused"
            )
    return errors


def _environment_problems(
    spec: dict[str, Any], cluster: Cluster, generated_for: str | None = None
) -> list[str]:
    """An Application deploying floe-<env>: only <env>'s paths and values, its chartVersion,
    manual sync for prod, sources the project permits."""
    namespace = str((spec.get("destination") or {}).get("namespace") or "")
    environment = environment_of_namespace(namespace)
    errors = []
    if generated_for is not None and environment != generated_for:
        errors.append(
            f"destination namespace {namespace or '(none)'}, but the generator matched "
            f"{generated_for}'s values: set destination.namespace to {namespace_of(generated_for)}"
        )
    if environment == ENVIRONMENTS[-1] and (spec.get("syncPolicy") or {}).get("automated"):
        errors.append(
            f"syncs into {namespace} automatically: prod changes only when a person syncs "
            "(drop syncPolicy.automated; in an ApplicationSet, guard it in templatePatch with "
            f'`if ne .path.basename "{ENVIRONMENTS[-1]}"`)'
        )
    errors += _repositories_permitted(spec, cluster)
    if environment is None:
        return errors
    for source in _source_list(spec):
        paths = [str(source.get("path") or ""),
                 *(str(v) for v in (source.get("helm") or {}).get("valueFiles") or [])]  # fmt: skip
        errors += foreign_paths(environment, [p for p in paths if p], "source")
    values_file = cluster.tree.values_files.get(environment)
    if values_file is not None:
        release = load_values(values_file).get("release") or {}
        for source in _source_list(spec):
            if source.get("chart") and str(source.get("targetRevision")) != str(
                release.get("chartVersion")
            ):
                errors.append(
                    f"targetRevision {source.get('targetRevision')} is not {environment}'s "
                    f"release.chartVersion {release.get('chartVersion')} (gitops.promote updates both)"
                )
    return errors


def _repositories_permitted(spec: dict[str, Any], cluster: Cluster) -> list[str]:
    project = cluster.projects.get(str(spec.get("project")))
    if project is None:
        return []
    permitted = [str(r) for r in (project.body.get("spec") or {}).get("sourceRepos") or []]
    return [
        f"repoURL {source['repoURL']} is not among AppProject {project.name}'s sourceRepos: "
        f"Argo CD refuses the Application (add it to {project.file})"
        for source in _source_list(spec)
        if source.get("repoURL")
        and not any(fnmatch.fnmatch(str(source["repoURL"]), p) for p in permitted)
    ]


def check_application(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    return (
        _destination(spec, cluster, template=False)
        + _cluster_kinds_allowed(spec, cluster)
        + _environment_problems(spec, cluster)
    )


def check_application_set(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    errors = _destination(template, cluster, template=True)
    applications, _ = generated_applications(document, cluster)
    for application in applications:
        generated = application.body.get("spec") or {}
        errors += [
            f"Application {application.name} ({application.environment}): {e}"
            for e in _destination(generated, cluster, template=False, whitelist=False)
            + _environment_problems(generated, cluster, generated_for=application.environment)
        ]
    go = bool(spec.get("goTemplate"))
    texts = [str(spec.get("templatePatch") or ""), *_strings(spec.get("template"))]
    for text in texts:
        for expression in GO_TEMPLATE.findall(text):
            word = expression.split()[0] if expression.split() else ""
            go_style = (
                word.startswith((".", "$", "/*")) or word in GO_TEMPLATE_FUNCTIONS or "(" in word
            )
            single = len(expression.split()) == 1
            if go and single and not go_style and re.fullmatch(r"[A-Za-z_][\w.\[\]-]*", word):
                errors.append(
                    f"{{{{{expression}}}}} is fasttemplate syntax, but goTemplate is on: write {{{{ .{word} }}}}"
                )
            if not go and word.startswith("."):
                errors.append(
                    f"{{{{ {expression} }}}} is Go template syntax, but goTemplate is off"
                )
    return errors


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


RULES: dict[str, tuple[Rule, ...]] = {
    "Application": (_application_references, on_objects(check_application)),
    "ApplicationSet": (_application_set_references, on_objects(check_application_set)),
}
"""By kind: references for every document of the kind, behaviour for Kubernetes objects."""
