"""Kubernetes RBAC as the API server evaluates it, for the smoke's API stand-in (standard library
only: it runs inside the runtime image beside kube_api_standin).

A request is allowed when a rule of a Role bound in its namespace (RoleBinding) or of a
ClusterRole bound anywhere (ClusterRoleBinding) grants its verb on its API group and resource
(with subresource, e.g. `jobs/status`) to its user; otherwise the answer is the API server's
Forbidden message, so a chart's missing verb reads as it would on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@dataclass(frozen=True)
class Request:
    """One resource request, as the API server's authorizer sees it."""

    user: str
    verb: str
    api_group: str
    resource: str
    namespace: str
    name: str = ""
    subresource: str = ""

    @property
    def qualified(self) -> str:
        """`jobs.batch`, `pods`: how the API server names the resource in a Forbidden error."""
        return f"{self.resource}.{self.api_group}" if self.api_group else self.resource


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _groups(user: str) -> set[str]:
    groups = {"system:authenticated"}
    if user.startswith("system:serviceaccount:"):
        namespace = user.split(":")[2]
        groups |= {"system:serviceaccounts", f"system:serviceaccounts:{namespace}"}
    return groups


def _bound(subject: dict[str, Any], user: str, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user == service_account_user(namespace, str(name))
    if kind == "User":
        return user == name
    return kind == "Group" and name in _groups(user)


def _grants(rule: dict[str, Any], request: Request) -> bool:
    verbs = rule.get("verbs") or []
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    names = rule.get("resourceNames") or []
    wanted = (
        f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    )
    resource_ok = (
        "*" in resources
        or wanted in resources
        or (
            bool(request.subresource)
            and (f"{request.resource}/*" in resources or f"*/{request.subresource}" in resources)
        )
    )
    return (
        ("*" in verbs or request.verb in verbs)
        and ("*" in groups or request.api_group in groups)
        and resource_ok
        and (not names or request.name in names)
    )


class Rbac:
    """The rendered RBAC objects; namespaced ones without a namespace are in `namespace` (where
    Helm installs them)."""

    def __init__(self, objects: list[dict[str, Any]], namespace: str) -> None:
        self.objects = [o for o in objects if o.get("kind") in RBAC_KINDS]
        self.namespace = namespace

    def _namespace_of(self, item: dict[str, Any]) -> str:
        return str((item.get("metadata") or {}).get("namespace") or self.namespace)

    def _role(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        for item in self.objects:
            metadata = item.get("metadata") or {}
            same = kind == "ClusterRole" or self._namespace_of(item) == namespace
            if item["kind"] == kind and metadata.get("name") == name and same:
                return item
        return None

    def _rules(self, request: Request) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for binding in self.objects:
            kind = binding["kind"]
            if kind not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            namespace = self._namespace_of(binding)
            if kind == "RoleBinding" and namespace != request.namespace:
                continue
            if not any(_bound(s, request.user, namespace) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            role = self._role(str(ref.get("kind")), str(ref.get("name")), namespace)
            rules += (role or {}).get("rules") or []
        return rules

    def forbidden(self, request: Request) -> str | None:
        """None when the request is allowed; else the API server's Forbidden message."""
        if any(_grants(rule, request) for rule in self._rules(request)):
            return None
        resource = (
            f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        )
        where = (
            f'in the namespace "{request.namespace}"'
            if request.namespace
            else "at the cluster scope"
        )
        reason = (
            f'User "{request.user}" cannot {request.verb} resource "{resource}" in API group '
            f'"{request.api_group}" {where}'
        )
        named = f' "{request.name}"' if request.name else ""
        return f"{request.qualified}{named} is forbidden: {reason}"
