"""External Secrets Operator: the rules for ExternalSecrets and their stores.

An ExternalSecret's store (and the chart's, from `secrets.externalSecret`) must exist and be
deployed by some kustomization; a ClusterSecretStore serves only the namespaces its `conditions`
admit, and without `conditions` it serves every namespace.
"""

from __future__ import annotations

import re
from typing import Any

from floe_deploy.gitops.cluster import Cluster, Rule, on_objects
from floe_deploy.gitops.environments import (
    environment_of_namespace,
    environment_of_path,
    secret_key_problems,
)
from floe_deploy.gitops.manifests import Document


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
    spec = document.body.get("spec") or {}
    reference = spec.get("secretStoreRef") or {}
    errors = (
        store_problems(reference, namespaces, cluster)
        if document.file in cluster.deployed or namespaces
        else []
    )
    owners = {environment_of_namespace(n) for n in namespaces} | {
        environment_of_path(document.file)
    }
    owners.discard(None)
    environment = owners.pop() if len(owners) == 1 else None
    for entry in spec.get("data") or []:
        remote = entry.get("remoteRef") or {}
        errors += secret_key_problems(
            environment, str(remote.get("key")), remote.get("property"),
            f"data {entry.get('secretKey')}:",
        )  # fmt: skip
    return errors


def check_cluster_secret_store(document: Document, cluster: Cluster) -> list[str]:
    if not (document.body.get("spec") or {}).get("conditions"):
        return [
            "no conditions: every namespace of the cluster (auto-synced dev included) may read its keys"
        ]
    return []


def chart_store_problems(values: dict[str, Any], environment: str, cluster: Cluster) -> list[str]:
    """The store of the chart's own ExternalSecret, admitting the environment's namespace."""
    external = (values.get("secrets") or {}).get("externalSecret") or {}
    if not external.get("enabled"):
        return []
    errors = [
        f"secrets.externalSecret: {p}"
        for p in store_problems(external.get("secretStoreRef") or {}, [f"floe-{environment}"], cluster)
    ]  # fmt: skip
    for name, remote in (external.get("remoteRefs") or {}).items():
        if isinstance(remote, dict):
            errors += secret_key_problems(
                environment, str(remote.get("key")), remote.get("property"),
                f"secrets.externalSecret.remoteRefs.{name}",
            )  # fmt: skip
    return errors


RULES: dict[str, tuple[Rule, ...]] = {
    "ExternalSecret": (on_objects(check_external_secret),),
    "ClusterSecretStore": (on_objects(check_cluster_secret_store),),
}
"""By kind: behaviour for Kubernetes objects (their references are the stores above)."""
