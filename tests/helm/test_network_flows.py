"""The NetworkPolicies against the flows the platform needs, answered by network-config-analyzer
(the real analyser) over the real chart's render and the run pod dagster-k8s builds. What lies
outside the release (ingress controller, resolvers, API server, Postgres, S3, catalog) is modelled
as NCA models it: pods in their namespaces, or ipBlocks; no CNI enforces anything here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chosen_values, deep_merge
from floe_deploy.helm.network_flows import (
    Flow,
    FlowReport,
    check_flows,
    is_allowed,
    parse_connectivity,
)
from floe_deploy.helm.run_pods import run_jobs
from floe_deploy.helm.validate import validate_chart
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-054", evidence="stand-in")

DESTINATIONS = [
    {"name": "postgres", "cidr": "10.20.0.0/16", "ports": [5432]},
    {"name": "s3", "cidr": "10.30.0.0/16", "ports": [443, 9000]},
    {"name": "catalog", "cidr": "10.40.0.0/16", "ports": [8181]},
]


def policies_on(egress: bool, **egress_values: Any) -> dict[str, Any]:
    return {
        "networkPolicy": {
            "enabled": True,
            "ingressNamespaces": ["ingress-nginx"],
            "egress": {"enabled": egress, "destinations": DESTINATIONS, **egress_values},
        },
        "cube": {"enabled": True},
        "preflight": {"enabled": True},
    }


def flows(
    rendered: Renderer,
    values_file: str | None,
    overrides: dict[str, Any],
    drop: str | None = None,
) -> FlowReport:
    objects = rendered(values_file, **overrides)
    merged = chosen_values(
        CHART_DIR / values_file if values_file else None, overrides, over_defaults=True
    )
    kept: list[RenderedObject] = [o for o in objects if not (drop and drop in o.name)]
    return check_flows(values_file or "default", kept, run_jobs(objects), merged)


@pytest.mark.parametrize("egress", [False, True])
@pytest.mark.parametrize("values_file", [None, "values-prod.yaml", "values-demo.yaml"])
def test_every_required_flow_passes(
    rendered: Renderer, values_file: str | None, egress: bool
) -> None:
    report = flows(rendered, values_file, policies_on(egress))
    assert report.errors == []
    texts = {r.flow.text for r in report.results if r.flow.required}
    assert report.policies == (9 if egress else 5)
    for wanted in (
        "ingress controller (ingress-nginx) → webserver (TCP 3000)",
        "ingress controller (ingress-nginx) → cube (TCP 4000)",
        "webserver → code server floe-demo (TCP 3030)",
        "daemon → code server floe-demo (TCP 3030)",
        "daemon → Kubernetes API 0.0.0.1 (TCP 443)",
        "daemon → Kubernetes API 0.0.0.1 (TCP 6443)",
        "run pod of floe-demo → postgres 10.20.0.1 (TCP 5432)",
        "preflight → postgres 10.20.0.1 (TCP 5432)",
        "run pod of floe-demo → DNS (kube-system) (UDP 53)",
        "run pod of floe-demo → DNS (kube-system) (TCP 53)",
        "code server floe-demo → DNS (kube-system) (UDP 53)",
    ):
        assert wanted in texts
    s3_port = 9000 if values_file == "values-demo.yaml" else 443
    assert f"run pod of floe-demo → s3 10.30.0.1 (TCP {s3_port})" in texts
    if values_file == "values-prod.yaml":
        assert "run pod of floe-demo → catalog 10.40.0.1 (TCP 8181)" in texts
        assert "webserver → s3 10.30.0.1 (TCP 443)" in texts  # S3 compute logs
    isolation = [r for r in report.results if not r.flow.required]
    assert {r.allowed for r in isolation} == {False}
    assert len(isolation) == (4 if egress else 2)


def test_a_policy_set_without_the_api_server_is_caught(rendered: Renderer) -> None:
    report = flows(rendered, "values-prod.yaml", policies_on(True, kubernetesApi={"cidr": None}))
    assert report.errors == [
        "network flow daemon → Kubernetes API 192.0.2.1 (TCP 443) is denied by the NetworkPolicies",
        "network flow daemon → Kubernetes API 192.0.2.1 (TCP 6443) is denied by the NetworkPolicies",
        "network flow hook floe-floe-migrate → Kubernetes API 192.0.2.1 (TCP 443) is denied by the "
        "NetworkPolicies",
        "network flow hook floe-floe-migrate → Kubernetes API 192.0.2.1 (TCP 6443) is denied by "
        "the NetworkPolicies",
    ]


def test_an_unlisted_service_is_named(rendered: Renderer) -> None:
    overrides = policies_on(True)
    overrides["networkPolicy"]["egress"]["destinations"] = DESTINATIONS[:2]
    report = flows(rendered, "values-prod.yaml", overrides)
    assert report.errors == [
        "network flow run pod of floe-demo → catalog 198.51.100.3 (no destination named catalog) "
        "(TCP 8181) is denied by the NetworkPolicies",
        "network flow preflight → catalog 198.51.100.3 (no destination named catalog) "
        "(TCP 8181) is denied by the NetworkPolicies",
    ]


def test_run_pods_are_selected_by_the_labels_dagster_k8s_gives_them(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", **policies_on(True))
    (run,) = run_jobs(objects)
    labels = run.job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "dagster"  # not the release: no release policy
    for name in ("run-pods-deny-ingress", "run-pods-egress"):
        (policy,) = find(objects, "NetworkPolicy", name)
        selector = policy.document["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= labels.items()
    without = flows(rendered, "values-prod.yaml", policies_on(True), drop="run-pods")
    assert without.errors == [
        "network flow a pod of another namespace → run pod of floe-demo (TCP 8080) is allowed, "
        "but the NetworkPolicies must deny it",
        "network flow run pod of floe-demo → 203.0.113.10 (listed nowhere) (TCP 8080) is "
        "allowed, but the NetworkPolicies must deny it",
    ]


@pytest.mark.parametrize(
    ("dns", "wanted"),
    [
        ({"namespaces": [], "cidrs": ["169.254.20.10/32"]}, "DNS 169.254.20.10 ({} 53)"),
        ({"namespaces": ["openshift-dns"], "ports": [5353]}, "DNS (openshift-dns) ({} 5353)"),
    ],
)
def test_dns_variants_reach_their_resolvers(
    rendered: Renderer, dns: dict[str, Any], wanted: str
) -> None:
    report = flows(rendered, "values-prod.yaml", policies_on(True, dns=dns))
    assert report.errors == []
    texts = {r.flow.text for r in report.results}
    for protocol in ("UDP", "TCP"):
        assert f"daemon → {wanted.format(protocol)}" in texts
        assert f"run pod of floe-demo → {wanted.format(protocol)}" in texts
    default_dns = flows(rendered, "values-prod.yaml", policies_on(True))
    assert not any("(kube-system)" in r.flow.text for r in report.results)
    assert any("(kube-system)" in r.flow.text for r in default_dns.results)


def test_the_analysers_map_is_read_as_written() -> None:
    allowed = parse_connectivity(
        "floe/a[Pod] => 10.0.0.0-10.0.0.255 : {protocols:TCP,dst_ports:443,6000-6443}\n"
        "floe/a[Pod] => kube-system/resolver[Pod] : {protocols:TCP, UDP,dst_ports:53}\n"
        "floe/b[Pod] => 0.0.0.0-255.255.255.255 : All connections\n"
    )
    checks = {
        ("floe/a", "10.0.0.7", "TCP", 6443): True,
        ("floe/a", "10.0.0.7", "TCP", 8080): False,
        ("floe/a", "10.0.1.7", "TCP", 443): False,
        ("floe/a", "kube-system/resolver", "UDP", 53): True,
        ("floe/a", "kube-system/resolver", "UDP", 5353): False,
        ("floe/b", "203.0.113.10", "UDP", 9): True,
    }
    for (source, destination, protocol, port), expected in checks.items():
        flow = {
            "source": {"label": source, "pod": source},
            "destination": {"label": destination}
            | ({"pod": destination} if "/" in destination else {"address": destination}),
            "protocol": protocol,
            "port": port,
        }
        assert is_allowed(allowed, Flow.model_validate(flow)) is expected, flow


def test_validate_reports_a_denied_flow_for_the_values_file(helm_settings: Settings) -> None:
    sets = deep_merge(
        policies_on(True), {"networkPolicy": {"egress": {"kubernetesApi": {"cidr": None}}}}
    )
    report = validate_chart(helm_settings, ["prod"], sets)
    (prod,) = report.values_files
    assert prod.errors == [
        "network flow daemon → Kubernetes API 192.0.2.1 (TCP 443) is denied by the NetworkPolicies",
        "network flow daemon → Kubernetes API 192.0.2.1 (TCP 6443) is denied by the NetworkPolicies",
        "network flow hook floe-floe-migrate → Kubernetes API 192.0.2.1 (TCP 443) is denied by the "
        "NetworkPolicies",
        "network flow hook floe-floe-migrate → Kubernetes API 192.0.2.1 (TCP 6443) is denied by "
        "the NetworkPolicies",
    ]
    assert not report.ok


def test_netcheck_task_names_each_denied_flow_and_exits_3() -> None:
    """Egress on with no destination listed: Postgres, S3 and the catalog are unreachable."""
    done = run_task(
        "helm.netcheck", "--values", "prod", "--set", "networkPolicy.egress.enabled=true", "--json"
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["policies"] == 8
    assert (
        "network flow run pod of floe-demo → postgres 198.51.100.1 (no destination named "
        "postgres) (TCP 5432) is denied by the NetworkPolicies"
    ) in report["errors"]
    assert all("no destination named" in error for error in report["errors"])
    assert len(report["errors"]) == 10  # migrate and rollback-check hooks → Dagster's Postgres too
