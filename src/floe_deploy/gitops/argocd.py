"""Argo CD: the rules for Applications and ApplicationSets.

References: the project is an AppProject here, a chart source names this chart, and source paths
and value files (for each environment a generator yields) exist in the repository.

What Argo CD would refuse or get wrong on a fresh cluster: it creates a namespace
(CreateNamespace=true) only when the AppProject whitelists the cluster-scoped kind Namespace,
deploys only to the project's destinations and only the cluster-scoped kinds it whitelists, and
syncs prod only when a person asks (no `automated` policy reaching prod); an Application follows
its environment's chartVersion, and an ApplicationSet's templates use the syntax `goTemplate`
selects.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from floe_deploy.gitops.cluster import Cluster, Rule, environment_of_namespace, on_objects
from floe_deploy.gitops.manifests import ENVIRONMENTS, Document, relative
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, load_values

TEMPLATE_PATH = re.compile(r"\{\{\s*\.path\.basename\s*\}\}")
GO_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
GO_TEMPLATE_FUNCTIONS = {"if", "else", "end", "range", "with", "define", "template", "block"}
CLUSTER_SCOPED = {"Namespace", "ClusterSecretStore", "ClusterPolicy", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition"}  # fmt: skip


def _sources(spec: dict[str, Any], cluster: Cluster, expand: list[str]) -> list[str]:
    errors = []
    if spec.get("project") not in cluster.projects:
        errors.append(f"project {spec.get('project')!r} is not an AppProject under gitops/")
    chart = chart_metadata(CHART_DIR)["name"]
    for source in spec.get("sources") or [spec.get("source") or {}]:
        if source.get("chart") and source["chart"] != chart:
            errors.append(f"chart {source['chart']!r} is not {chart}")
        if source.get("path"):
            errors += cluster.unresolved_path(source["path"], "source.path")
        for value_file in (source.get("helm") or {}).get("valueFiles") or []:
            for basename in expand or [""]:
                concrete = TEMPLATE_PATH.sub(basename, value_file)
                errors += cluster.unresolved_path(concrete, "helm.valueFiles")
    return errors


def _application_references(document: Document, cluster: Cluster) -> list[str]:
    return _sources(document.body.get("spec") or {}, cluster, [])


def _application_set_references(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    repo_root = cluster.tree.repo_root
    errors, basenames = [], []
    for generator in spec.get("generators") or []:
        for entry in (generator.get("git") or {}).get("files") or []:
            matches = [p for p in repo_root.glob(entry["path"]) if p.is_file()]
            if not matches:
                errors.append(f"generator path {entry['path']} matches no file")
            basenames += [m.parent.name for m in matches]
            for match in matches:
                release = load_values(match).get("release") or {}
                if not (release.get("chartRepository") and release.get("chartVersion")):
                    errors.append(
                        f"{relative(match, repo_root)} has no release.chartRepository/chartVersion"
                    )
    template = (spec.get("template") or {}).get("spec") or {}
    return errors + _sources(template, cluster, basenames)


def _whitelisted(whitelist: list[dict[str, Any]], group: str, kind: str) -> bool:
    """Whether an AppProject's clusterResourceWhitelist admits the cluster-scoped kind."""
    return any(e.get("group") in {group, "*"} and e.get("kind") in {kind, "*"} for e in whitelist)


def _sync_options(spec: dict[str, Any]) -> list[str]:
    return [str(o) for o in (spec.get("syncPolicy") or {}).get("syncOptions") or []]


def _destination(spec: dict[str, Any], cluster: Cluster, *, template: bool) -> list[str]:
    errors = []
    destination = spec.get("destination") or {}
    namespace = str(destination.get("namespace") or "")
    creates = "CreateNamespace=true" in _sync_options(spec)
    project = cluster.projects.get(str(spec.get("project")))
    if project is not None:
        project_spec = project.body.get("spec") or {}
        whitelist = project_spec.get("clusterResourceWhitelist") or []
        if creates and not _whitelisted(whitelist, "", "Namespace"):
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
                f"destination namespace {namespace} is not among AppProject {project.name}'s destinations"
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


def check_application(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    errors = _destination(spec, cluster, template=False) + _cluster_kinds_allowed(spec, cluster)
    namespace = str((spec.get("destination") or {}).get("namespace") or "")
    if namespace == f"floe-{ENVIRONMENTS[-1]}" and (spec.get("syncPolicy") or {}).get("automated"):
        errors.append(
            f"syncs into {namespace} automatically: prod changes only when a person syncs "
            "(drop syncPolicy.automated)"
        )
    environment = environment_of_namespace(namespace)
    values_file = cluster.tree.values_files.get(environment or "")
    if values_file is not None:
        release = load_values(values_file).get("release") or {}
        for source in spec.get("sources") or [spec.get("source") or {}]:
            if source.get("chart") and str(source.get("targetRevision")) != str(
                release.get("chartVersion")
            ):
                errors.append(
                    f"targetRevision {source.get('targetRevision')} is not {environment}'s "
                    f"release.chartVersion {release.get('chartVersion')} (gitops.promote updates both)"
                )
    return errors


def check_application_set(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    errors = _destination(template, cluster, template=True)
    if (template.get("syncPolicy") or {}).get("automated"):
        errors.append(
            "the template syncs automatically, so prod's Application would too: add "
            "`automated` for the other environments in templatePatch"
        )
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
