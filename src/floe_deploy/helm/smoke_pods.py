"""Rendered workloads played as pods with `podman kube play`: a Deployment's or a Job's pod as
rendered, with only what a kubelet would add (the service-account token mount, the
KUBERNETES_SERVICE_* variables) or what podman 4.3 needs changed (each change is noted for the
report), each pod answering to the names of the Services that select it.
"""

from __future__ import annotations

import json
import shutil
from copy import deepcopy
from pathlib import Path
from typing import Any

from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.object_lifecycle import hook_events
from floe_deploy.helm.podman import Podman
from floe_deploy.helm.smoke_readiness import WorkloadState, remediation_for
from floe_deploy.helm.smoke_registry import RegistryPull
from floe_deploy.oci import RegistryError
from floe_deploy.waiting import poll

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
API_PORT = 6443
"""The namespace the smoke plays the release in (the rendered objects name none)."""


class Refused(Exception):
    """podman refused to create a workload's pod; its WorkloadState says why."""


def pod_document(name: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": spec}  # fmt: skip


def _labels(document: dict[str, Any]) -> dict[str, str]:
    template = (document.get("spec") or {}).get("template") or {}
    return dict(((template.get("metadata") or {}).get("labels")) or {})


def _selected(service: RenderedObject, labels: dict[str, str]) -> bool:
    selector = (service.document.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class PodPlayer:
    """One smoke's played pods: its podman session, its scratch directory, each pod's IP, and
    what playing them had to change (the report's substitutions)."""

    def __init__(self, state_dir: Path, pull: RegistryPull | None = None) -> None:
        self.run_dir = state_dir / "smoke"
        self.podman = Podman(state_dir, network="floe-smoke", pull=pull)
        self.substitutions: list[str] = []
        self.workloads: list[WorkloadState] = []
        self.ips: dict[str, str] = {}
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.postgres_ca: Path | None = None
        """the CA file of the played Postgres's certificate, when it speaks TLS"""

    def note(self, substitution: str) -> None:
        if substitution not in self.substitutions:
            self.substitutions.append(substitution)

    def kubelet_additions(self, spec: dict[str, Any]) -> dict[str, Any]:
        """What a kubelet adds to a pod that automounts its service-account token: the token of
        the pod's own ServiceAccount (refused, as admission does, when none is rendered)."""
        if spec.get("automountServiceAccountToken") is False:
            return spec
        account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        directory = self.run_dir / "serviceaccount" / account
        if not directory.is_dir():
            raise FloeError(
                f"error looking up service account {NAMESPACE}/{account}: serviceaccount "
                f'"{account}" not found',
                "render the ServiceAccount the pod names (serviceAccount.create) or name one that is",
            )
        spec = deepcopy(spec)
        spec.setdefault("volumes", []).append(
            {"name": "kube-api-access", "hostPath": {"path": str(directory), "type": "Directory"}}
        )
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            container.setdefault("volumeMounts", []).append(
                {"name": "kube-api-access", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True}
            )
            container.setdefault("env", []).extend(
                [{"name": "KUBERNETES_SERVICE_HOST", "value": "kubernetes"},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": str(API_PORT)}]
            )  # fmt: skip
        return spec

    def subpath_files(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A ConfigMap key mounted with subPath becomes a file mount: podman 4.3 ignores subPath
        for configMap volumes and would mount the whole map as a directory there."""
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        spec = deepcopy(spec)
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for mount in container.get("volumeMounts") or []:
                config_map = (volumes.get(mount["name"]) or {}).get("configMap")
                if not mount.get("subPath") or not config_map:
                    continue
                data = self.config_maps[config_map["name"]].get("data") or {}
                path = self.run_dir / "subpath" / config_map["name"] / mount["subPath"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[mount["subPath"]])
                path.chmod(0o644)
                name = f"{mount['name']}-{len(spec['volumes'])}"
                spec["volumes"].append(
                    {"name": name, "hostPath": {"path": str(path), "type": "File"}}
                )
                mount["name"] = name
                del mount["subPath"]
                self.note(
                    "a ConfigMap key mounted with subPath is played as a file mount (podman 4.3 "
                    "ignores subPath for configMap volumes)"
                )
        return spec

    def play_workload(
        self, item: RenderedObject, services: list[RenderedObject], configmaps: list[Path]
    ) -> list[str]:
        """Play one workload as rendered (one pod per replica); each pod answers to the names of
        the Services that select it."""
        document = deepcopy(item.document)
        if item.kind == "Job":
            template = document["spec"]["template"]
            document = pod_document(item.name, _labels(item.document), template["spec"])
        try:
            if document["kind"] == "Pod":
                document["spec"] = self.subpath_files(self.kubelet_additions(document["spec"]))
            else:
                template = document["spec"]["template"]
                template["spec"] = self.subpath_files(self.kubelet_additions(template["spec"]))
        except FloeError as refused:
            self.workloads.append(
                WorkloadState(workload=item.label, pod="-", ready=False, detail=refused.message,
                              remediation=refused.remediation)
            )  # fmt: skip
            raise Refused from None
        if document["kind"] != "Pod":
            template = document["spec"]["template"]
            if template["spec"].get("initContainers"):
                # podman 4.3 restarts an init container that succeeded when the pod's policy is
                # Always, then fails removing it; a kubelet never reruns a finished one.
                template["spec"]["restartPolicy"] = "OnFailure"
                self.note(
                    "restartPolicy Always is played as OnFailure for pods with init containers "
                    "(podman 4.3 would rerun a finished init container)"
                )
        pod_spec = (
            document["spec"] if document["kind"] == "Pod" else document["spec"]["template"]["spec"]
        )
        for container in pod_spec.get("containers") or []:
            if container.pop("ports", None):
                self.note(
                    "containerPorts are left out of the played pods: podman 4.3 publishes each on "
                    "the host (a second replica could not start); probes still use them"
                )
        pods = self._play_or_refuse(item, document, configmaps)
        labels = _labels(item.document) or dict(document["metadata"].get("labels") or {})
        for pod in pods:
            for service in services:
                if _selected(service, labels):
                    self.podman.alias(pod, service.name)
            self.ips[pod] = self.podman.pod_ip(pod)
        return pods

    def _play_or_refuse(
        self, item: RenderedObject, document: dict[str, Any], configmaps: list[Path]
    ) -> list[str]:
        """`kube play` the document; a refusal (a pull the registry refused too) becomes the
        workload's state, with its remediation."""
        try:
            return self.podman.play([document], configmaps)
        except FloeError as refused:
            remediation = (
                refused.remediation
                if isinstance(refused, RegistryError)
                else remediation_for(refused.message)
            )
            self.workloads.append(
                WorkloadState(workload=item.label, pod="-", ready=False, detail=refused.message,
                              remediation=remediation)
            )  # fmt: skip
            raise Refused from None

    def url_of(self, played: list[tuple[RenderedObject, str]], suffix: str) -> str:
        """http://<first pod's IP>:<first containerPort> of the Deployment named *suffix."""
        item, pod = next((i, p) for i, p in played if i.name.endswith(suffix))
        container = item.document["spec"]["template"]["spec"]["containers"][0]
        return f"http://{self.ips[pod]}:{container['ports'][0]['containerPort']}"

    def run_job(
        self, item: RenderedObject, configmaps: list[Path], timeout: float = 180
    ) -> tuple[int, str]:
        """Play a Job's pod and wait for all its containers to end, as the Job does; (exit code,
        log) of the first that failed, else of the first container."""
        (pod,) = self.play_workload(item, [], configmaps)
        names = [
            f"{pod}-{c['name']}" for c in item.document["spec"]["template"]["spec"]["containers"]
        ]

        def ended() -> tuple[int, str] | None:
            states = {s["name"]: s for s in self.podman.containers(pod)}
            if not all(states.get(n, {}).get("status") in {"exited", "stopped"} for n in names):
                return None
            codes = [int(states[n]["exit_code"] or 0) for n in names]
            failed = next((i for i, code in enumerate(codes) if code != 0), 0)
            return codes[failed], self.podman.logs(names[failed], lines=None)

        return poll(ended, timeout=timeout, interval=1.0) or (-1, self.podman.logs(names[0]))


def job_failures(logs: str) -> str:
    """What a failed hook said: floe-preflight's failed checks, else its last lines."""
    try:
        results = json.loads(logs)["results"]
    except (ValueError, KeyError, TypeError):
        return logs[-500:]
    return "; ".join(
        f"{r['service']}: {r['status']}: {r['message']}" for r in results if r["status"] != "ok"
    )


def configmap_files(objects: list[RenderedObject], directory: Path) -> list[Path]:
    """One file per ConfigMap: `kube play --configmap` reads the first document of a file."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    paths = []
    for item in objects:
        if item.kind == "ConfigMap":
            path = directory / f"{item.name}.yaml"
            path.write_text(json.dumps(item.document))
            paths.append(path)
    return paths


def hook_jobs(objects: list[RenderedObject], phase: str) -> list[RenderedObject]:
    """The chart's hook Jobs of one phase (`pre-install`, `pre-upgrade`, ...), lowest hook weight
    first (the order Helm runs them in)."""
    jobs = [o for o in objects if o.kind == "Job" and phase in hook_events(o)]
    return sorted(
        jobs,
        key=lambda o: int(o.document["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
    )
