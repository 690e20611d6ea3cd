"""What the controllers themselves would refuse or get wrong on a fresh cluster.

Each check states one documented behaviour of Argo CD, Flux, kustomize or the External Secrets
Operator, applied to the files under gitops/ (no controller can run here):
- Argo CD creates a namespace (CreateNamespace=true) only when the AppProject whitelists the
  cluster-scoped kind Namespace, deploys only to the project's destinations, and syncs prod only
  when a person asks (no `automated` policy reaching prod);
- Flux applies a Kustomization into a namespace that must exist; `dependsOn` waits for the
  target's Ready condition, which covers what it applied only with `wait: true` or health checks;
- kustomize renames a generated ConfigMap with a hash of its content, and rewrites references to
  it only where a nameReference configuration says so (HelmRelease valuesFrom is not built in);
- an ExternalSecret's store must exist, and a ClusterSecretStore without `conditions` serves every
  namespace;
- each controller serves the API versions (and fields) of its releases from a given version on:
  the documented minimum versions must serve every document.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from floe_deploy.gitops.manifests import ENVIRONMENTS, KUSTOMIZE_API, Document, GitOpsTree
from floe_deploy.helm.chart import load_values

SYSTEM_NAMESPACES = {"argocd", "flux-system", "kube-system", "default", "external-secrets"}
MINIMUM_VERSIONS = {
    "Argo CD": "2.10",
    "Flux": "2.6",
    "External Secrets Operator": "0.17",
    "Sealed Secrets": "0.24",
    "Kyverno": "1.13",
}
"""The oldest controller releases the examples support (docs/06, version matrix)."""
SERVED_FROM: dict[tuple[str, str], tuple[str, str]] = {
    ("argoproj.io/v1alpha1", "Application"): ("Argo CD", "1.0"),
    ("argoproj.io/v1alpha1", "AppProject"): ("Argo CD", "1.0"),
    ("argoproj.io/v1alpha1", "ApplicationSet"): ("Argo CD", "2.3"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): ("Flux", "2.0"),
    ("source.toolkit.fluxcd.io/v1", "HelmRepository"): ("Flux", "2.3"),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): ("Flux", "2.6"),
    ("source.toolkit.fluxcd.io/v1beta2", "OCIRepository"): ("Flux", "2.0"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): ("Flux", "2.0"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): ("Flux", "2.3"),
    ("external-secrets.io/v1", "ExternalSecret"): ("External Secrets Operator", "0.17"),
    ("external-secrets.io/v1", "ClusterSecretStore"): ("External Secrets Operator", "0.17"),
    ("external-secrets.io/v1", "SecretStore"): ("External Secrets Operator", "0.17"),
    ("external-secrets.io/v1beta1", "ExternalSecret"): ("External Secrets Operator", "0.5"),
    ("external-secrets.io/v1beta1", "ClusterSecretStore"): ("External Secrets Operator", "0.5"),
    ("bitnami.com/v1alpha1", "SealedSecret"): ("Sealed Secrets", "0.1"),
    ("kyverno.io/v1", "ClusterPolicy"): ("Kyverno", "1.0"),
}
"""(apiVersion, kind) → (controller, first release serving it), from each project's changelog."""
FIELDS_FROM: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("Application", ("spec", "sources")): ("Argo CD", "2.6"),
    ("ApplicationSet", ("spec", "goTemplate")): ("Argo CD", "2.5"),
    ("ApplicationSet", ("spec", "templatePatch")): ("Argo CD", "2.10"),
    ("HelmRelease", ("spec", "chartRef")): ("Flux", "2.3"),
}
CONTROLLER_GROUPS = {
    "argoproj.io": "Argo CD", "toolkit.fluxcd.io": "Flux",
    "external-secrets.io": "External Secrets Operator", "bitnami.com": "Sealed Secrets",
    "kyverno.io": "Kyverno",
}  # fmt: skip
GO_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
GO_TEMPLATE_FUNCTIONS = {"if", "else", "end", "range", "with", "define", "template", "block"}


def environment_of_namespace(namespace: str) -> str | None:
    for environment in ENVIRONMENTS:
        if namespace == f"floe-{environment}":
            return environment
    return None


class Cluster:
    """What the tree makes, as a controller would find it."""

    def __init__(self, tree: GitOpsTree) -> None:
        self.tree = tree
        self.namespaces = {d.name: d for d in tree.of_kind("Namespace")}
        self.projects = {d.name: d for d in tree.of_kind("AppProject")}
        self.flux = {d.name: d for d in tree.of_kind("Kustomization")}
        self.kustomize = [d for d in tree.documents if d.api_version.startswith(KUSTOMIZE_API)]
        self.stores = {
            (d.kind, d.name): d for d in tree.documents
            if d.kind in {"ClusterSecretStore", "SecretStore"} and d.is_kubernetes
        }  # fmt: skip
        self.deployed = self._deployed_files()

    def _deployed_files(self) -> set[str]:
        """Files that some kustomization lists (what Flux or Argo CD would apply from a path)."""
        files = set()
        for document in self.kustomize:
            directory = Path(document.file).parent
            for resource in document.body.get("resources") or []:
                files.add(str(directory / resource))
        return files

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self.namespaces or namespace in SYSTEM_NAMESPACES

    def target_namespaces(self, file: str) -> list[str]:
        """Namespaces the Flux Kustomizations apply the file's directory into."""
        directory = str(Path(file).parent)
        found = []
        for document in self.flux.values():
            spec = document.body.get("spec") or {}
            if str(spec.get("path", "")).removeprefix("./") == directory and spec.get(
                "targetNamespace"
            ):
                found.append(str(spec["targetNamespace"]))
        return found


def _whitelisted(whitelist: list[dict[str, Any]], group: str, kind: str) -> bool:
    """Whether an AppProject's clusterResourceWhitelist admits the cluster-scoped kind."""
    return any(e.get("group") in {group, "*"} and e.get("kind") in {kind, "*"} for e in whitelist)


def _sync_options(spec: dict[str, Any]) -> list[str]:
    return [str(o) for o in (spec.get("syncPolicy") or {}).get("syncOptions") or []]


def _argo_destination(spec: dict[str, Any], cluster: Cluster, *, template: bool) -> list[str]:
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


CLUSTER_SCOPED = {"Namespace", "ClusterSecretStore", "ClusterPolicy", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition"}  # fmt: skip


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
    errors = _argo_destination(spec, cluster, template=False) + _cluster_kinds_allowed(
        spec, cluster
    )
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
    errors = _argo_destination(template, cluster, template=True)
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


def check_flux_kustomization(document: Document, cluster: Cluster) -> list[str]:
    spec = document.body.get("spec") or {}
    errors = []
    target = spec.get("targetNamespace")
    if target and not cluster.namespace_exists(str(target)):
        errors.append(
            f"targetNamespace {target} is made by no Namespace here: the apply fails on a fresh cluster"
        )
    for dependency in spec.get("dependsOn") or []:
        other = cluster.flux.get(str(dependency.get("name")))
        if other is None:
            continue
        other_spec = other.body.get("spec") or {}
        if not (other_spec.get("wait") or other_spec.get("healthChecks")):
            errors.append(
                f"dependsOn {other.name}, which is Ready as soon as it applied: give it wait: true "
                "(or healthChecks) so this waits for what it made"
            )
    return errors


def check_namespaced(document: Document, cluster: Cluster) -> list[str]:
    namespace = document.namespace
    if namespace and not cluster.namespace_exists(namespace):
        return [
            f"namespace {namespace} is made by nothing here: the apply fails on a fresh cluster"
        ]
    return []


def _name_reference_covers(document: Document, kind: str, path: str) -> bool:
    directory = Path(document.file).parent
    for configuration in document.body.get("configurations") or []:
        file = directory / configuration
        loaded = load_values(file) if file.suffix in {".yaml", ".yml"} else {}
        for reference in loaded.get("nameReference") or []:
            if reference.get("kind") != "ConfigMap":
                continue
            for spec in reference.get("fieldSpecs") or []:
                if spec.get("kind") == kind and spec.get("path") == path:
                    return True
    return False


def check_kustomize(document: Document, cluster: Cluster) -> list[str]:
    """A kustomization's generated ConfigMaps: hashed names, and references that follow them."""
    body = document.body
    generators = body.get("configMapGenerator") or []
    if not generators:
        return []
    if (body.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        return [
            "disableNameSuffixHash: a change to the generated ConfigMap keeps its name, so the "
            "HelmRelease reading it upgrades only at its next interval"
        ]
    errors = []
    directory = cluster.tree.repo_root / Path(document.file).parent
    names = {g["name"]: g for g in generators}
    for resource in body.get("resources") or []:
        path = directory / resource
        if not path.is_file():
            continue
        for release in [d for d in cluster.tree.documents if d.kind == "HelmRelease"
                        and cluster.tree.repo_root / d.file == path]:  # fmt: skip
            for source in (release.body.get("spec") or {}).get("valuesFrom") or []:
                generator = names.get(str(source.get("name")))
                if source.get("kind") != "ConfigMap" or generator is None:
                    continue
                if not _name_reference_covers(document, "HelmRelease", "spec/valuesFrom/name"):
                    errors.append(
                        f"HelmRelease {release.name} names the generated ConfigMap {generator['name']}, "
                        "whose real name carries a hash: add a nameReference configuration for "
                        "HelmRelease spec/valuesFrom/name (configurations:)"
                    )
                keys = {Path(f.split("=")[0]).name for f in generator.get("files") or []}
                key = str(source.get("valuesKey") or "values.yaml")
                if key not in keys:
                    errors.append(
                        f"valuesFrom key {key} is not in the generated ConfigMap {generator['name']} ({', '.join(sorted(keys))})"
                    )
    return errors


def _admits(store: Document, namespace: str, cluster: Cluster) -> bool:
    conditions = (store.body.get("spec") or {}).get("conditions") or []
    labels = (
        (cluster.namespaces[namespace].body.get("metadata") or {}).get("labels") or {}
        if namespace in cluster.namespaces
        else {}
    )
    for condition in conditions:
        if namespace in (condition.get("namespaces") or []):
            return True
        if any(re.fullmatch(r, namespace) for r in condition.get("namespaceRegexes") or []):
            return True
        wanted = (condition.get("namespaceSelector") or {}).get("matchLabels") or {}
        if wanted and all(labels.get(k) == v for k, v in wanted.items()):
            return True
    return False


def store_problems(reference: dict[str, Any], namespaces: list[str], cluster: Cluster) -> list[str]:
    kind = str(reference.get("kind") or "SecretStore")
    name = str(reference.get("name"))
    store = cluster.stores.get((kind, name))
    if store is None:
        return [f"{kind} {name} is defined nowhere under gitops/"]
    errors = []
    if store.file not in cluster.deployed:
        errors.append(
            f"{kind} {name} ({store.file}) is listed in no kustomization: nothing deploys it"
        )
    if kind == "ClusterSecretStore":
        errors += [
            f"{kind} {name} does not admit namespace {namespace} (its conditions)"
            for namespace in namespaces if not _admits(store, namespace, cluster)
        ]  # fmt: skip
    return errors


def check_external_secret(document: Document, cluster: Cluster) -> list[str]:
    namespaces = (
        [document.namespace] if document.namespace else cluster.target_namespaces(document.file)
    )
    reference = (document.body.get("spec") or {}).get("secretStoreRef") or {}
    return (
        store_problems(reference, namespaces, cluster)
        if document.file in cluster.deployed or namespaces
        else []
    )


def check_cluster_secret_store(document: Document, cluster: Cluster) -> list[str]:
    if not (document.body.get("spec") or {}).get("conditions"):
        return [
            "no conditions: every namespace of the cluster (auto-synced dev included) may read its keys"
        ]
    return []


def check_oci_repository(document: Document, cluster: Cluster) -> list[str]:
    errors = check_namespaced(document, cluster)
    verify = (document.body.get("spec") or {}).get("verify") or {}
    if verify.get("provider") == "cosign" and not (
        verify.get("secretRef") or verify.get("matchOIDCIdentity")
    ):
        errors.append(
            "verify names no public key (secretRef) and no signer (matchOIDCIdentity): any signature passes"
        )
    return errors


def check_versions(document: Document) -> list[str]:
    group = document.api_version.split("/")[0]
    controller = next(
        (c for suffix, c in CONTROLLER_GROUPS.items() if group.endswith(suffix)), None
    )
    if controller is None:
        return []
    served = SERVED_FROM.get((document.api_version, document.kind))
    if served is None:
        return [
            f"{document.api_version} {document.kind} is not served by {controller} {MINIMUM_VERSIONS[controller]} (the documented minimum)"
        ]
    errors = []
    if Version(served[1]) > Version(MINIMUM_VERSIONS[controller]):
        errors.append(
            f"{document.api_version} {document.kind} needs {controller} {served[1]}; the documented minimum is {MINIMUM_VERSIONS[controller]}"
        )
    for (kind, path), (owner, version) in FIELDS_FROM.items():
        node: Any = document.body
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if (
            kind == document.kind
            and node is not None
            and Version(version) > Version(MINIMUM_VERSIONS[owner])
        ):
            errors.append(
                f"{'.'.join(path)} needs {owner} {version}; the documented minimum is {MINIMUM_VERSIONS[owner]}"
            )
    return errors


def sops_recipients(document: Document, tree: GitOpsTree) -> list[str]:
    """A SOPS file must carry a MAC and be encrypted for the recipients its .sops.yaml rule names."""
    metadata = document.body.get("sops") if isinstance(document.body, dict) else None
    if not isinstance(metadata, dict):
        return []
    errors = [] if metadata.get("mac") else ["SOPS metadata without a MAC: not a file sops wrote"]
    rules_file = tree.root / ".sops.yaml"
    if not rules_file.is_file():
        return errors
    relative = (
        str(Path(document.file).relative_to(tree.root.name))
        if document.file.startswith(tree.root.name + "/")
        else document.file
    )
    for rule in load_values(rules_file).get("creation_rules") or []:
        if re.search(str(rule.get("path_regex", "")), relative):
            wanted = {r.strip() for r in str(rule.get("age", "")).split(",") if r.strip()}
            found = {str(r.get("recipient")) for r in metadata.get("age") or []}
            if wanted and found != wanted:
                errors.append(
                    f"encrypted for {', '.join(sorted(found))}, but .sops.yaml names {', '.join(sorted(wanted))} for this path"
                )
            break
    return errors


def _version(text: str) -> Version | None:
    try:
        return Version(text.partition("@")[0])
    except InvalidVersion:
        return None


def environment_drift(tree: GitOpsTree) -> dict[str, list[str]]:
    """A later environment running a version its predecessor does not: an edit, not a promotion."""
    found: dict[str, list[str]] = {}
    for earlier, later in itertools.pairwise(ENVIRONMENTS):
        if earlier not in tree.values_files or later not in tree.values_files:
            continue
        before, after = (
            load_values(tree.values_files[earlier]),
            load_values(tree.values_files[later]),
        )
        pairs = {
            "image.tag": (str((before.get("image") or {}).get("tag")), str((after.get("image") or {}).get("tag"))),
            "release.chartVersion": (str((before.get("release") or {}).get("chartVersion")), str((after.get("release") or {}).get("chartVersion"))),
        }  # fmt: skip
        for field, (was, now) in pairs.items():
            old, new = _version(was), _version(now)
            if was != now and (old is None or new is None or new > old):
                found.setdefault(later, []).append(
                    f"{field} {now} is not what {earlier} runs ({was}): a version reaches {later} only "
                    f"by promotion from {earlier} (invoke gitops.promote --from {earlier} --to {later})"
                )
    return found


DOCUMENT_CHECKS = {
    "Application": check_application,
    "ApplicationSet": check_application_set,
    "Kustomization": check_flux_kustomization,
    "ExternalSecret": check_external_secret,
    "ClusterSecretStore": check_cluster_secret_store,
    "OCIRepository": check_oci_repository,
    "HelmRelease": check_namespaced,
}


def controller_problems(document: Document, cluster: Cluster) -> list[str]:
    """Everything above that concerns one document."""
    if document.api_version.startswith(KUSTOMIZE_API):
        return check_kustomize(document, cluster)
    if not document.is_kubernetes:
        return []
    check = DOCUMENT_CHECKS.get(document.kind)
    errors = check(document, cluster) if check is not None else []
    return errors + check_versions(document) + sops_recipients(document, cluster.tree)
