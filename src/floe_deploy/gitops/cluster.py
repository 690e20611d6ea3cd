"""The cluster the tree under gitops/ would make, shared by every controller's rules.

What the tree creates (namespaces, Secrets, ConfigMaps, sources, stores, the files some
kustomization deploys), how a reference resolves against that, and which API versions and fields
the documented minimum controller releases serve.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from floe_deploy.gitops.manifests import (
    KUSTOMIZE_API,
    PRE_EXISTING,
    Document,
    GitOpsTree,
)
from floe_deploy.gitops.secrets import is_sops_encrypted
from floe_deploy.helm.chart import load_values

if TYPE_CHECKING:
    from floe_deploy.gitops.signing import ReleaseSigning

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
"""(apiVersion, kind) → (controller, first release serving it), from each project's changelog.
The vendored CRD schemas carry no `served` flags (openapi2jsonschema keeps one version's
openAPIV3Schema per file), so the changelogs are the source."""
REMOVED_IN: dict[tuple[str, str], tuple[str, str]] = {
    ("external-secrets.io/v1beta1", "ExternalSecret"): ("External Secrets Operator", "0.17"),
    ("external-secrets.io/v1beta1", "ClusterSecretStore"): ("External Secrets Operator", "0.17"),
    ("external-secrets.io/v1beta1", "SecretStore"): ("External Secrets Operator", "0.17"),
}
"""(apiVersion, kind) → (controller, first release that no longer serves it)."""
FIELDS_FROM: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("Application", ("spec", "sources")): ("Argo CD", "2.6"),
    ("ApplicationSet", ("spec", "goTemplate")): ("Argo CD", "2.5"),
    ("ApplicationSet", ("spec", "templatePatch")): ("Argo CD", "2.10"),
    ("HelmRelease", ("spec", "chartRef")): ("Flux", "2.3"),
}
SERVED_BY_NEWER = {"external-secrets.io/v1beta1": "external-secrets.io/v1"}
CONTROLLER_GROUPS = {
    "argoproj.io": "Argo CD", "toolkit.fluxcd.io": "Flux",
    "external-secrets.io": "External Secrets Operator", "bitnami.com": "Sealed Secrets",
    "kyverno.io": "Kyverno",
}  # fmt: skip


class Cluster:
    """What the tree makes, as a controller would find it."""

    def __init__(self, tree: GitOpsTree) -> None:
        self.tree = tree
        self.secrets: set[str] = set()
        self.secret_keys: dict[str, set[str]] = {}
        """Keys of the Secrets an ExternalSecret makes (for valuesFrom valuesKey)."""
        self.config_maps: dict[str, set[str]] = {}
        """ConfigMaps each directory's kustomization generates (kustomize builds one directory)."""
        self.pre_existing: set[str] = set()
        self._collect_generated()
        self.git_repositories = {d.name for d in tree.of_kind("GitRepository")}
        self.oci_repositories = {d.name for d in tree.of_kind("OCIRepository")}
        self.namespaces = {d.name: d for d in tree.of_kind("Namespace")}
        self.projects = {d.name: d for d in tree.of_kind("AppProject")}
        self.flux = {d.name: d for d in tree.of_kind("Kustomization")}
        self.kustomize = [d for d in tree.documents if d.api_version.startswith(KUSTOMIZE_API)]
        self.stores = {
            (d.kind, d.name): d for d in tree.documents
            if d.kind in {"ClusterSecretStore", "SecretStore"} and d.is_kubernetes
        }  # fmt: skip
        self.deployed = self._deployed_files()
        self.release_signing: ReleaseSigning | None = None
        """How the release workflow signs (validate reads it); None: no workflow to agree with."""

    def _collect_generated(self) -> None:
        """The Secrets and ConfigMaps documents and values files make, and those made outside."""
        for document in self.tree.documents:
            body, kind = document.body, document.kind
            if kind == "ExternalSecret":
                spec = body.get("spec") or {}
                target = spec.get("target") or {}
                name = target.get("name") or document.name
                self.secrets.add(name)
                templated = ((target.get("template") or {}).get("data") or {}).keys()
                self.secret_keys[name] = set(templated) or {
                    str(d.get("secretKey")) for d in spec.get("data") or []
                }
            elif kind == "SealedSecret" or (kind == "Secret" and is_sops_encrypted(body)):
                self.secrets.add(document.name)
            elif kind == "Kustomization" and document.api_version.startswith(KUSTOMIZE_API):
                self.config_maps.setdefault(str(Path(document.file).parent), set()).update(
                    g["name"] for g in body.get("configMapGenerator") or []
                )
                self.secrets |= {g["name"] for g in body.get("secretGenerator") or []}
            elif document.file.endswith(PRE_EXISTING):
                self.pre_existing |= {e["name"] for e in body.get("preExistingSecrets") or []}
        for values_file in self.tree.values_files.values():
            values = load_values(values_file)
            secret_values = values.get("secrets") or {}
            if (secret_values.get("externalSecret") or {}).get("enabled") or (
                secret_values.get("sealedSecret") or {}
            ).get("enabled"):
                self.secrets.add(secret_values.get("secretName", "floe-secrets"))

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

    def external_secrets_making(self, name: str) -> list[Document]:
        return [
            d for d in self.tree.of_kind("ExternalSecret")
            if (((d.body.get("spec") or {}).get("target") or {}).get("name") or d.name) == name
        ]  # fmt: skip

    def external_secret_namespaces(self, name: str) -> set[str]:
        """Namespaces that an ExternalSecret making the Secret `name` is applied into."""
        found: set[str] = set()
        for document in self.external_secrets_making(name):
            if document.namespace:
                found.add(document.namespace)
            elif document.file in self.deployed:
                found.update(self.target_namespaces(document.file))
        return found

    def unresolved_secret(self, name: str | None, where: str) -> list[str]:
        if not name or name in self.secrets or name in self.pre_existing:
            return []
        return [f"{where}: Secret {name!r} is made by no ExternalSecret, SealedSecret or SOPS file, "
                f"and is not listed in {PRE_EXISTING}"]  # fmt: skip

    def unresolved_path(self, path: str, where: str) -> list[str]:
        target = self.tree.repo_root / path.removeprefix("./").removeprefix("$values/")
        return [] if target.exists() else [f"{where}: {path} does not exist in the repository"]


Rule = Callable[[Document, Cluster], list[str]]
"""One check of a document against the cluster: its problems (none when it passes)."""


def on_objects(rule: Rule) -> Rule:
    """A controller acts only on Kubernetes objects: a kustomization file, or a document without
    apiVersion or kind, gets none of its behaviour."""

    @functools.wraps(rule)
    def checked(document: Document, cluster: Cluster) -> list[str]:
        return rule(document, cluster) if document.is_kubernetes else []

    return checked


def check_namespaced(document: Document, cluster: Cluster) -> list[str]:
    namespace = document.namespace
    if namespace and not cluster.namespace_exists(namespace):
        return [
            f"namespace {namespace} is made by nothing here: the apply fails on a fresh cluster"
        ]
    return []


def served_by_minimum(document: Document, cluster: Cluster) -> list[str]:
    """The documented minimum release of the document's controller serves its API and fields."""
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
    removed = REMOVED_IN.get((document.api_version, document.kind))
    if removed is not None:
        errors.append(
            f"{document.api_version} {document.kind} is not served from {controller} {removed[1]} "
            f"on (the documented minimum is {MINIMUM_VERSIONS[controller]}): the apply fails; "
            f"use {SERVED_BY_NEWER.get(document.api_version, 'a served version')}"
        )
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


def pre_existing_problems(document: Document) -> list[str] | None:
    """The list of Secrets made outside git, by its own rules (None: not that file)."""
    if not document.file.endswith(PRE_EXISTING):
        return None
    body = document.body if isinstance(document.body, dict) else {}
    entries = body.get("preExistingSecrets")
    ok = isinstance(entries, list) and all({"name", "why"} <= set(e) for e in entries)
    return [] if ok else ["preExistingSecrets must list entries with name and why"]
