"""Whether a played workload is ready, judged as a kubelet judges it (its containers running,
its rendered readiness probe passing from the node), and what to do when it is not: the
remediation for what its log lines say.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from pydantic import BaseModel

from floe_deploy.helm.chart import RenderedObject
from floe_deploy.helm.podman import Podman
from floe_deploy.waiting import poll

READY_TIMEOUT_S = 240.0

REMEDIATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"No such command '(\w[\w-]*)'"),
        "the image's ENTRYPOINT is prepended to the chart's args (`dagster dagster …`): "
        "drop the ENTRYPOINT, as the dagster chart's images do",
    ),
    (
        re.compile(
            r"(?i)permission denied.*(bind|listen)|(bind|listen).*permission denied|"
            r"EACCES.*:(\d+)"
        ),
        "a non-root process with no capabilities cannot bind a port below 1024 on a real node: "
        "listen on a port ≥ 1024 (dagster.dagsterWebserver.service.port)",
    ),
    (
        re.compile(
            r"(?i)(no such file or directory|FileNotFoundError|not found|does not exist)"
            r".*(/opt|/etc|/cube|/tmp|\.json|\.yaml)|"
            r"(/opt|/etc|/cube|/tmp)/\S+ (does not exist|not found)"
        ),
        "a file the workload reads is not mounted: check the volumes and volumeMounts it renders",
    ),
    (
        re.compile(
            r"(?i)secret \S+ has not \S+ key|(secret|key).*(not found|no such|does not exist)|"
            r"(not found|no such).*(secret|key)"
        ),
        "the Secret lacks a key the workload reads: compare secretKeyRef keys with secrets.secretName's keys",
    ),
    (
        re.compile(r"(?i)read-only file system"),
        "the workload writes outside its emptyDir mounts: mount an emptyDir where it writes",
    ),
]


class WorkloadState(BaseModel):
    workload: str
    pod: str
    ready: bool
    seconds: float | None = None
    probe: str = ""
    detail: str = ""
    logs: str = ""
    remediation: str = ""


def remediation_for(logs: str) -> str:
    """The advice for the first known failure in `logs`."""
    for pattern, advice in REMEDIATIONS:
        if pattern.search(logs):
            return advice
    return "read the log lines above; `invoke helm.template` shows what the pod was rendered with"


def wait_ready(podman: Podman, item: RenderedObject, pod: str, ip: str) -> WorkloadState:
    """Until every container runs and the rendered readiness probe passes (as a kubelet
    probes: from the node to the pod's IP, or exec in the container)."""
    started = time.monotonic()
    spec = item.document["spec"]["template"]["spec"]
    container = spec["containers"][0]
    probe = container.get("readinessProbe") or {}
    main_name = f"{pod}-{container['name']}"
    last = {"detail": "not started", "container": main_name}

    def step() -> WorkloadState | bool | None:
        states = podman.containers(pod)
        broken = [s for s in states if s["restarts"] > 0 or (s["status"] == "exited" and
                  s["exit_code"] not in (0, None))]  # fmt: skip
        if broken:
            crashed = broken[0]
            last["detail"] = (
                f"{crashed['name']} crashed and was restarted {crashed['restarts']} times"
                if crashed["restarts"]
                else f"{crashed['name']} exited with code {crashed['exit_code']}"
            )
            last["container"] = broken[0]["name"]
            return False
        main = next((s for s in states if s["name"] == main_name), None)
        if main and main["status"] == "running":
            ok, last["detail"] = _probe(podman, pod, ip, container, probe)
            if ok:
                return WorkloadState(
                    workload=item.label, pod=pod, ready=True,
                    seconds=round(time.monotonic() - started, 1), probe=_describe(probe),
                )  # fmt: skip
        return None

    outcome = poll(step, timeout=READY_TIMEOUT_S, interval=1.0)
    if isinstance(outcome, WorkloadState):
        return outcome
    detail = last["detail"]
    if outcome is None:
        detail = f"not ready within {READY_TIMEOUT_S:.0f} s ({detail})"
    name = last["container"]
    logs = podman.logs(name)
    return WorkloadState(
        workload=item.label, pod=pod, ready=False, probe=_describe(probe), detail=detail,
        logs=logs, remediation=remediation_for(logs),
    )  # fmt: skip


def _probe(
    podman: Podman, pod: str, ip: str, container: dict[str, Any], probe: dict[str, Any]
) -> tuple[bool, str]:
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
    if "exec" in probe:
        done = podman.try_("exec", f"{pod}-{container['name']}", *probe["exec"]["command"])
        return done.returncode == 0, (done.stdout + done.stderr).strip()[-200:]
    for kind in ("httpGet", "tcpSocket"):
        if kind in probe:
            port = probe[kind]["port"]
            port = ports.get(port, port)
            if kind == "tcpSocket":
                return http_ok(f"http://{ip}:{port}/", accept_4xx=True), ""
            path = probe[kind].get("path", "/")
            return http_ok(f"http://{ip}:{port}{path}"), ""
    return True, "no readiness probe rendered: running counts as ready"


def http_ok(url: str, *, accept_4xx: bool = False) -> bool:
    """Whether `url` answers as a kubelet's httpGet probe counts it (below 400); with
    `accept_4xx`, any answer below 500 will do (a port that is listening at all)."""
    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return False
    return response.status_code < (500 if accept_4xx else 400)


def _describe(probe: dict[str, Any]) -> str:
    if "exec" in probe:
        return "exec " + " ".join(probe["exec"]["command"])
    for kind in ("httpGet", "tcpSocket"):
        if kind in probe:
            return f"{kind} {probe[kind].get('path', '')}:{probe[kind]['port']}"
    return "none"
