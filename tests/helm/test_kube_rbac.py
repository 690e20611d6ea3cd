"""RBAC as the smoke's API stand-in evaluates it, against the Roles and RoleBindings the real
dagster chart renders: every request dagster-k8s makes for a run is granted to the daemon's and
webserver's ServiceAccount, anything else is refused with the API server's Forbidden message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from floe_deploy.helm.kube_rbac import Rbac, Request, service_account_user
from tests.helm.conftest import Renderer

pytestmark = pytest.mark.requirement("007-FR-043", evidence="stand-in")

DAGSTER = service_account_user("floe", "floe-dagster")
DAGSTER_K8S_CALLS = [
    ("create", "batch", "jobs", ""),
    ("get", "batch", "jobs", "status"),
    ("list", "batch", "jobs", ""),
    ("delete", "batch", "jobs", ""),
    ("list", "", "pods", ""),
    ("get", "", "pods", ""),
    ("get", "", "pods", "log"),
    ("delete", "", "pods", ""),
    ("list", "", "events", ""),
]
"""(verb, API group, resource, subresource) of each call in dagster_k8s/client.py a run needs."""


def rbac_of(rendered: Renderer, values: str = "values-demo.yaml") -> list[dict[str, Any]]:
    return [o.document for o in rendered(values)]


@pytest.mark.parametrize("values", ["values-demo.yaml", "values-prod.yaml"])
def test_the_rendered_role_grants_what_dagster_k8s_calls(rendered: Renderer, values: str) -> None:
    rbac = Rbac(rbac_of(rendered, values), "floe")
    for verb, group, resource, subresource in DAGSTER_K8S_CALLS:
        request = Request(user=DAGSTER, verb=verb, api_group=group, resource=resource,
                          namespace="floe", name="dagster-run-1", subresource=subresource)  # fmt: skip
        assert rbac.forbidden(request) is None, request


def test_other_accounts_namespaces_and_resources_are_forbidden(rendered: Renderer) -> None:
    rbac = Rbac(rbac_of(rendered), "floe")
    default = service_account_user("floe", "default")
    assert rbac.forbidden(Request(user=default, verb="list", api_group="", resource="pods",
                                  namespace="floe")) == (
        'pods is forbidden: User "system:serviceaccount:floe:default" cannot list resource '
        '"pods" in API group "" in the namespace "floe"'
    )  # fmt: skip
    assert rbac.forbidden(Request(user=DAGSTER, verb="get", api_group="batch", resource="jobs",
                                  namespace="other", name="x")) == (
        'jobs.batch "x" is forbidden: User "system:serviceaccount:floe:floe-dagster" cannot get '
        'resource "jobs" in API group "batch" in the namespace "other"'
    )  # fmt: skip
    assert rbac.forbidden(Request(user=DAGSTER, verb="get", api_group="", resource="secrets",
                                  namespace="floe", name="floe-secrets")) is not None  # fmt: skip
    assert rbac.forbidden(Request(user=DAGSTER, verb="update", api_group="batch",
                                  resource="jobs", subresource="status", namespace="floe",
                                  name="j")) is not None  # fmt: skip


def test_a_planted_missing_verb_is_forbidden_naming_verb_and_service_account(
    rendered: Renderer,
) -> None:
    objects = copy.deepcopy(rbac_of(rendered))
    (role,) = [
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "floe-dagster-role"
    ]
    jobs = next(r for r in role["rules"] if r["resources"] == ["jobs"])
    jobs["verbs"].remove("delete")
    rbac = Rbac(objects, "floe")
    delete = Request(user=DAGSTER, verb="delete", api_group="batch", resource="jobs",
                     namespace="floe", name="dagster-run-abc")  # fmt: skip
    assert rbac.forbidden(delete) == (
        'jobs.batch "dagster-run-abc" is forbidden: User "system:serviceaccount:floe:floe-dagster" '
        'cannot delete resource "jobs" in API group "batch" in the namespace "floe"'
    )
    assert rbac.forbidden(Request(user=DAGSTER, verb="create", api_group="batch",
                                  resource="jobs", namespace="floe")) is None  # fmt: skip


def test_subresources_cluster_roles_and_groups_bind_as_in_kubernetes() -> None:
    objects = [
        {"kind": "ClusterRole", "metadata": {"name": "logs"},
         "rules": [{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "logs"},
         "subjects": [{"kind": "Group", "name": "system:serviceaccounts:team"}],
         "roleRef": {"kind": "ClusterRole", "name": "logs"}},
        {"kind": "RoleBinding", "metadata": {"name": "pods", "namespace": "team"},
         "subjects": [{"kind": "ServiceAccount", "name": "runner"}],
         "roleRef": {"kind": "ClusterRole", "name": "pods"}},
        {"kind": "ClusterRole", "metadata": {"name": "pods"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"],
                    "resourceNames": []}]},
    ]  # fmt: skip
    rbac = Rbac(objects, "floe")
    runner = service_account_user("team", "runner")

    def allowed(user: str, verb: str, resource: str, namespace: str, sub: str = "") -> bool:
        return rbac.forbidden(Request(user=user, verb=verb, api_group="", resource=resource,
                                      namespace=namespace, name="p", subresource=sub)) is None  # fmt: skip

    assert allowed(runner, "get", "pods", "elsewhere", sub="log")
    assert not allowed(runner, "get", "pods", "team")
    assert allowed(runner, "list", "pods", "team")
    assert not allowed(runner, "list", "pods", "floe")
    assert not allowed(service_account_user("floe", "runner"), "get", "pods", "floe", sub="log")
