"""Which flows the chart's NetworkPolicies let through, answered by network-config-analyzer.

A policy is only worth what it allows: the render's workloads (pod templates of Deployments,
StatefulSets and hook Jobs, and each run pod exactly as dagster-k8s builds it) and stand-ins for
what lies outside the release (ingress controller, resolvers, the API server, Postgres, S3, the
catalog, a stranger) go to NCA with the rendered policies. Its connectivity map must hold every
required flow and none of the isolation flows. Services outside the cluster are ipBlocks: the
API server an address of `networkPolicy.egress.kubernetesApi.cidr`, Postgres, S3 and the catalog
an address of the destination of that name (unlisted: a documentation address no rule allows).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, computed_field

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import CHART_DIR, NAMESPACE, RenderedObject, chosen_values
from floe_deploy.helm.rendering import prepare_chart, render
from floe_deploy.helm.run_pods import RunJob, run_jobs
from floe_deploy.helm.values_model import UmbrellaValues
from floe_deploy.paths import BUILD_DIR
from floe_deploy.settings import Settings

Protocol = Literal["TCP", "UDP"]
NCA = "network-config-analyzer==2.1.0"
"""Run in a tool environment of its own (`uv tool run`), not the project's: it pins PyYAML 6.0.2,
which would hold `kubernetes` (the runtime image's too) at 36.0.0, whose in-cluster config sends
no token."""
ANALYSER_CACHE = BUILD_DIR / "cache" / "network-flows"
"""NCA's answer per input (the policies, pods and namespaces it was given, and its version): a
render validated again, as gitops.validate does per environment, is not analysed again."""
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
STRANGER_NAMESPACE = "elsewhere"
STRAY_ADDRESS = "203.0.113.10"
"""An address no rule lists (TEST-NET-3): what isolated pods must not reach."""
UNPLACED = {"postgres": "198.51.100.1", "s3": "198.51.100.2", "catalog": "198.51.100.3"}
"""Where a service no destination places is modelled (TEST-NET-2): egress must not reach it."""
UNPLACED_API = "192.0.2.1"


class Peer(BaseModel):
    """One end of a flow: a pod (namespace/name, as NCA names it) or an address."""

    label: str
    pod: str | None = None
    address: str | None = None


class Flow(BaseModel):
    source: Peer
    destination: Peer
    protocol: Protocol
    port: int
    required: bool = True
    """False: an isolation flow, which the policies must deny."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        return f"{self.source.label} → {self.destination.label} ({self.protocol} {self.port})"


class FlowResult(BaseModel):
    flow: Flow
    allowed: bool

    @property
    def ok(self) -> bool:
        return self.allowed == self.flow.required

    @property
    def problem(self) -> str | None:
        if self.ok:
            return None
        if self.flow.required:
            return f"network flow {self.flow.text} is denied by the NetworkPolicies"
        return f"network flow {self.flow.text} is allowed, but the NetworkPolicies must deny it"


class FlowReport(BaseModel):
    values: str
    policies: int
    results: list[FlowResult]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors(self) -> list[str]:
        return [p for r in self.results if (p := r.problem)]


class Workload(BaseModel):
    group: str
    """webserver, daemon, code, run, preflight, cube, … (what flows it needs)"""
    role: str
    name: str
    labels: dict[str, str]
    ports: list[int] = []


def _pod_template(document: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = (document.get("spec") or {}).get("template") or {}
    return template


def _labels(template: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}


def _role(kind: str, name: str, labels: dict[str, str]) -> tuple[str, str]:
    """(group, label) of a workload by the labels its chart gives it."""
    component = labels.get("component") or labels.get("app.kubernetes.io/component")
    if component in {"dagster-webserver", "dagster-daemon"}:
        group = component.removeprefix("dagster-")
        return group, group
    if component == "user-deployments":
        return "code", f"code server {labels.get('deployment')}"
    if component == "migrate":  # the upgrade hook scales Deployments; the rollback check only reads
        return ("migrate" if name.endswith("-migrate") else "rollback-check"), f"hook {name}"
    return str(component or kind), str(component or f"{kind}/{name}")


def workloads(objects: list[RenderedObject], runs: list[RunJob]) -> list[Workload]:
    """Every pod a render runs: its workloads' templates and the run pods dagster-k8s builds."""
    found = []
    for item in objects:
        if item.kind not in WORKLOAD_KINDS:
            continue
        template = _pod_template(item.document)
        labels = _labels(template)
        ports = [
            int(port["containerPort"])
            for container in (template.get("spec") or {}).get("containers") or []
            for port in container.get("ports") or []
        ]
        group, role = _role(item.kind, item.name, labels)
        found.append(Workload(group=group, role=role, name=item.name, labels=labels, ports=ports))
    for run in runs:
        labels = _labels(_pod_template(run.job))
        found.append(
            Workload(group="run", role=f"run pod of {run.location}", name=f"run-{run.location}",
                     labels=labels)
        )  # fmt: skip
    return found


def _first_address(cidr: str) -> str:
    network = ipaddress.ip_network(cidr, strict=False)
    return str(next(iter(network.hosts()), network.network_address))


def _placed(role: str, values: UmbrellaValues) -> Peer:
    for destination in values.networkPolicy.egress.destinations:
        if destination.name == role:
            address = _first_address(destination.cidr)
            return Peer(label=f"{role} {address}", address=address)
    return Peer(
        label=f"{role} {UNPLACED[role]} (no destination named {role})", address=UNPLACED[role]
    )


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _services(values: UmbrellaValues, dagster: dict[str, Any]) -> dict[str, list[int]]:
    """Service role → the ports run pods open on it: Dagster's Postgres (first), the catalog's
    and the marts', S3, a REST catalog."""
    postgresql = dagster.get("postgresql") or {}
    artifacts = values.artifacts
    postgres = [int((postgresql.get("service") or {}).get("port") or 5432)]
    services = {"postgres": postgres}
    catalog = artifacts.catalog
    if catalog.type == "rest" and catalog.uri:
        services["catalog"] = [_url_port(catalog.uri)]
    elif catalog.postgres is not None:
        postgres.append(catalog.postgres.port)
    postgres.append(artifacts.serving.postgres.port)
    endpoint = artifacts.storage.endpoint
    services["s3"] = [_url_port(endpoint) if endpoint else 443]
    return services


def _peer(workload: Workload) -> Peer:
    return Peer(label=workload.role, pod=f"{NAMESPACE}/{workload.name}")


def _flows(sources: list[Workload], destination: Peer, ports: list[int],
           protocols: tuple[Protocol, ...] = ("TCP",), *, required: bool = True) -> list[Flow]:  # fmt: skip
    return [
        Flow(source=_peer(s), destination=destination, protocol=protocol, port=port,
             required=required)
        for s in sources for port in ports for protocol in protocols
    ]  # fmt: skip


def _code_server_ports(dagster: dict[str, Any]) -> dict[str, int]:
    deployments = (dagster.get("dagster-user-deployments") or {}).get("deployments") or []
    return {str(d.get("name")): int(d.get("port") or 3030) for d in deployments}


def _service_flows(
    values: UmbrellaValues, dagster: dict[str, Any], by_group: dict[str, list[Workload]]
) -> list[Flow]:
    """Kubernetes API, Postgres, S3 and the catalog: who opens what, on which port."""
    api = values.networkPolicy.egress.kubernetesApi
    address = _first_address(api.cidr) if api.cidr else UNPLACED_API
    api_peer = Peer(label=f"Kubernetes API {address}", address=address)
    migrate = by_group.get("migrate", [])
    flows = _flows(by_group.get("daemon", []) + migrate, api_peer, api.ports)
    services = _services(values, dagster)
    dagster_db = services["postgres"][:1]
    postgres = _placed("postgres", values)
    readers = by_group.get("webserver", []) + by_group.get("daemon", []) + migrate
    flows += _flows(readers + by_group.get("rollback-check", []), postgres, dagster_db)
    runners = by_group.get("run", []) + by_group.get("preflight", [])
    for role, ports in services.items():
        flows += _flows(runners, _placed(role, values), sorted(set(ports)))
    if (dagster.get("computeLogManager") or {}).get("type") == "S3ComputeLogManager":
        flows += _flows(by_group.get("webserver", []), _placed("s3", values), services["s3"])
    flows += _flows(by_group.get("cube", []), postgres, [values.artifacts.serving.postgres.port])
    return flows


def _isolation_flows(values: UmbrellaValues, by_group: dict[str, list[Workload]],
                     servers: dict[str, int]) -> list[Flow]:  # fmt: skip
    """What the policies must deny: strangers reaching run pods and code servers, and (egress
    on) run pods and the daemon reaching an address no rule lists."""
    policy = values.networkPolicy
    if not policy.enabled:
        return []
    stranger = Peer(label="a pod of another namespace", pod=f"{STRANGER_NAMESPACE}/stranger")
    flows = [
        Flow(source=stranger, destination=_peer(target), protocol="TCP",
             port=servers.get(target.labels.get("deployment", ""), 8080), required=False)
        for target in by_group.get("run", []) + by_group.get("code", [])
    ]  # fmt: skip
    if policy.egress.enabled:
        stray = Peer(label=f"{STRAY_ADDRESS} (listed nowhere)", address=STRAY_ADDRESS)
        sources = by_group.get("run", []) + by_group.get("daemon", [])
        flows += _flows(sources, stray, [8080], required=False)
    return flows


def required_flows(
    values: UmbrellaValues, dagster: dict[str, Any], pods: list[Workload]
) -> list[Flow]:
    """What the platform needs to work, and (policies on) what must stay shut."""
    by_group: dict[str, list[Workload]] = {}
    for pod in pods:
        by_group.setdefault(pod.group, []).append(pod)
    policy = values.networkPolicy
    flows = [
        Flow(source=Peer(label=f"ingress controller ({namespace})", pod=f"{namespace}/controller"),
             destination=_peer(target), protocol="TCP", port=port)
        for namespace in policy.ingressNamespaces
        for target in by_group.get("webserver", []) + by_group.get("cube", [])
        for port in target.ports
    ]  # fmt: skip
    servers = _code_server_ports(dagster)
    for server in by_group.get("code", []):
        port = servers.get(server.labels.get("deployment", ""), 3030)
        flows += _flows(
            by_group.get("webserver", []) + by_group.get("daemon", []), _peer(server), [port]
        )
    flows += _service_flows(values, dagster, by_group)
    dns = policy.egress.dns
    resolvers = [Peer(label=f"DNS ({n})", pod=f"{n}/resolver") for n in dns.namespaces] + [
        Peer(label=f"DNS {_first_address(c)}", address=_first_address(c)) for c in dns.cidrs
    ]
    for resolver in resolvers:
        flows += _flows(pods, resolver, dns.ports, ("UDP", "TCP"))
    return flows + _isolation_flows(values, by_group, servers)


def _namespaces(flows: list[Flow]) -> list[str]:
    names = {NAMESPACE}
    for flow in flows:
        for peer in (flow.source, flow.destination):
            if peer.pod:
                names.add(peer.pod.split("/")[0])
    return sorted(names)


def _cluster(pods: list[Workload], flows: list[Flow]) -> dict[str, Any]:
    """The pods NCA is given: the release's and one stand-in per outside pod of a flow."""
    items = [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": pod.name, "namespace": NAMESPACE, "labels": pod.labels},
         "spec": {"containers": [{"name": "main", "image": "unused"}]}}
        for pod in pods
    ]  # fmt: skip
    outside = {
        peer.pod for flow in flows for peer in (flow.source, flow.destination)
        if peer.pod and not peer.pod.startswith(f"{NAMESPACE}/")
    }  # fmt: skip
    for reference in sorted(outside):
        namespace, name = reference.split("/")
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": name, "namespace": namespace, "labels": {"stand-in": name}},
                      "spec": {"containers": [{"name": "main", "image": "unused"}]}})  # fmt: skip
    return {"apiVersion": "v1", "kind": "List", "items": items}


Allowed = dict[tuple[str, str], list[tuple[set[str] | None, list[tuple[int, int]] | None]]]
_LINE = re.compile(r"^(?P<source>\S+) => (?P<destination>\S+) : (?P<connections>.+)$")


def _endpoint(text: str) -> str:
    return text.removesuffix("[Pod]")


def parse_connectivity(text: str) -> Allowed:
    """NCA's `txt_no_fw_rules` map: (source, destination) → allowed (protocols, port ranges);
    None stands for all."""
    allowed: Allowed = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        key = (_endpoint(match["source"]), _endpoint(match["destination"]))
        connections = match["connections"].strip()
        if connections == "All connections":
            allowed.setdefault(key, []).append((None, None))
            continue
        for group in re.findall(r"\{([^}]*)\}", connections):
            fields: dict[str, list[str]] = {}
            current = ""
            for part in group.split(","):
                item = part.strip()
                if ":" in item:
                    current, _, item = item.partition(":")
                fields.setdefault(current, []).append(item)
            protocols = set(fields["protocols"]) if "protocols" in fields else None
            ports = None
            if "dst_ports" in fields:
                ports = []
                for item in fields["dst_ports"]:
                    low, _, high = item.partition("-")
                    ports.append((int(low), int(high or low)))
            allowed.setdefault(key, []).append((protocols, ports))
    return allowed


def _matches(text: str, peer: Peer) -> bool:
    if peer.pod is not None:
        return text == peer.pod
    if peer.address is None or "/" in text:
        return False
    low, _, high = text.partition("-")
    try:
        first, last = ipaddress.IPv4Address(low), ipaddress.IPv4Address(high or low)
    except ValueError:
        return False  # IPv6 ranges (--print_ipv6 is off): the stand-ins are IPv4
    return first <= ipaddress.IPv4Address(peer.address) <= last


def is_allowed(allowed: Allowed, flow: Flow) -> bool:
    for (source, destination), connections in allowed.items():
        if not (_matches(source, flow.source) and _matches(destination, flow.destination)):
            continue
        for protocols, ports in connections:
            if protocols is not None and flow.protocol not in protocols:
                continue
            if ports is None or any(low <= flow.port <= high for low, high in ports):
                return True
    return False


def _namespaced(policy: RenderedObject) -> dict[str, Any]:
    document = dict(policy.document)
    document["metadata"] = {**document.get("metadata", {}), "namespace": NAMESPACE}
    return document


def run_analyser(
    policies: list[RenderedObject], cluster: dict[str, Any], namespaces: list[str]
) -> str:
    """NCA's connectivity map of the policies over the pods (txt_no_fw_rules)."""
    ns_list = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
        for n in namespaces
    ]}  # fmt: skip
    files = {"policies": {"apiVersion": "v1", "kind": "List",
                          "items": [_namespaced(p) for p in policies]},
             "pods": cluster, "namespaces": ns_list}  # fmt: skip
    key = hashlib.sha256(json.dumps([NCA, files], sort_keys=True).encode()).hexdigest()
    cached = ANALYSER_CACHE / f"{key}.txt"
    if cached.is_file():
        return cached.read_text()
    with tempfile.TemporaryDirectory(prefix="floe-netcheck-") as scratch:
        root = Path(scratch)
        for name, content in files.items():
            (root / f"{name}.yaml").write_text(json.dumps(content))  # YAML reads JSON
        out = root / "connectivity.txt"
        uv = shutil.which("uv") or "uv"
        command = [uv, "tool", "run", "--from", NCA, "nca", "--connectivity", str(root / "policies.yaml"),
                   "--pod_list", str(root / "pods.yaml"), "--ns_list", str(root / "namespaces.yaml"),
                   "-o", "txt_no_fw_rules", "-f", str(out)]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except FileNotFoundError:
            done = None
        if done is None or not out.is_file():
            detail = (done.stderr or done.stdout)[-2000:] if done else ""
            raise FloeError(
                "network-config-analyzer gave no connectivity map",
                f"it runs as `uv tool run --from {NCA}` (fetched from PyPI into uv's cache on "
                "first use; scripts/bootstrap installs uv); the details show its error",
                details=detail,
                exit_code=ExitCode.FAILURE,
            )
        text = out.read_text()
    ANALYSER_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.part")
    partial.write_text(text)
    partial.replace(cached)
    return text


def check_flows(
    label: str, objects: list[RenderedObject], runs: list[RunJob], merged: dict[str, Any]
) -> FlowReport:
    """Every required flow of a render through its NetworkPolicies, as NCA computes them."""
    values = UmbrellaValues.model_validate(merged)
    pods = workloads(objects, runs)
    flows = required_flows(values, values.dagster, pods)
    policies = [o for o in objects if o.kind == "NetworkPolicy"]
    allowed = parse_connectivity(run_analyser(policies, _cluster(pods, flows), _namespaces(flows)))
    results = [FlowResult(flow=f, allowed=is_allowed(allowed, f)) for f in flows]
    return FlowReport(values=label, policies=len(policies), results=results)


def netcheck(
    settings: Settings, values: str, sets: dict[str, Any] | None = None, chart_dir: Path = CHART_DIR
) -> FlowReport:
    """The flows of one values source (named or a file) with `--set` overrides."""
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    objects = render(chosen_values(values, sets, chart_dir=chart_dir), chart)
    merged = chosen_values(values, sets, chart_dir=chart_dir, over_defaults=True)
    return check_flows(values, objects, run_jobs(objects), merged)
