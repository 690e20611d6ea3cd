"""The Job controller's and the kubelet's part for the Jobs dagster-k8s creates through the API
stand-in (kube_api_standin): each Job's pod played with podman, and, on every sync, the pod's
state, log and events and the Job's status written where the stand-in serves them from; a pod
the API was asked to delete is stopped as a kubelet stops one (SIGTERM, then SIGKILL after the
grace period) and is gone from the API afterwards.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.console import Console
from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.kube_api_standin import REQUESTS, now
from floe_deploy.helm.smoke_pods import PodPlayer, Refused


class PlayedJob(BaseModel):
    """A Job's pod as played (podman's names) and as the API serves it."""

    job: str
    run_id: str
    pod: str
    api_pod: str
    containers: dict[str, str]
    """Container name in the pod spec → podman's container name."""
    started: str
    running_seen: bool = False
    finished: bool = False


def _event(
    kind: str, name: str, reason: str, message: str, type_: str = "Normal"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Event", "type": type_, "reason": reason, "message": message,
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": NAMESPACE},
        "involvedObject": {"kind": kind, "name": name, "namespace": NAMESPACE},
        "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
        "source": {"component": "job-controller" if kind == "Job" else "kubelet"},
    }  # fmt: skip


def _container_status(name: str, state: dict[str, Any] | None, since: str) -> dict[str, Any]:
    status = (state or {}).get("status")
    if status == "running":
        phase: dict[str, Any] = {"running": {"startedAt": since}}
    elif status in {"exited", "stopped"}:
        code = int(state["exit_code"] or 0) if state else 0
        phase = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                "startedAt": since, "finishedAt": now()}}  # fmt: skip
    else:
        phase = {"waiting": {"reason": "ContainerCreating"}}
    return {"name": name, "state": phase, "lastState": {}, "ready": status == "running",
            "restartCount": 0, "started": status == "running", "image": "", "imageID": ""}  # fmt: skip


class JobMirror:
    """The Jobs under the smoke's shared `jobs` directory, played and kept current."""

    def __init__(self, pods: PodPlayer, configmaps: list[Path], console: Console) -> None:
        self.pods = pods
        self.configmaps = configmaps
        self.console = console
        self.jobs = pods.run_dir / "jobs"
        self.played: dict[str, PlayedJob] = {}

    def sync(self) -> None:
        for directory in sorted(p for p in self.jobs.iterdir() if p.is_dir()):
            played = self.played.get(directory.name)
            if played is None and (directory / "job.json").is_file():
                self._play(directory)
            elif played is not None:
                self._mirror(directory, played)

    def of_run(self, run_id: str) -> list[PlayedJob]:
        return [p for p in self.played.values() if p.run_id == run_id]

    def requests(self) -> list[dict[str, Any]]:
        """What the stand-in was asked, in order (user, verb, resource, name, code, message)."""
        path = self.jobs / REQUESTS
        lines = path.read_text().splitlines() if path.is_file() else []
        return [json.loads(line) for line in lines if line.strip()]

    def forbidden(self) -> list[str]:
        """The API server's message of each request the rendered RBAC refused."""
        return [str(r["message"]) for r in self.requests() if r.get("code") == 403]

    def _write(self, directory: Path, name: str, body: Any) -> None:
        path = directory / name
        path.write_text(json.dumps(body))
        path.chmod(0o644)

    def _add_events(self, directory: Path, *events: dict[str, Any]) -> None:
        path = directory / "events.json"
        self._write(
            directory,
            "events.json",
            [*json.loads(path.read_text() if path.is_file() else "[]"), *events],
        )

    def _play(self, directory: Path) -> None:
        job = json.loads((directory / "job.json").read_text())
        template = job["spec"]["template"]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        api_pod = f"{directory.name}-{suffix}"
        try:
            (pod,) = self.pods.play_workload(
                RenderedObject(template="dagster-k8s (K8sRunLauncher)", document=job), [],
                self.configmaps,
            )  # fmt: skip
        except Refused:
            pod = ""
        names = [c["name"] for c in template["spec"]["containers"]]
        played = PlayedJob(job=directory.name, run_id=labels.get("dagster/run-id", ""), pod=pod,
                           api_pod=api_pod, containers={n: f"{pod}-{n}" for n in names},
                           started=now())  # fmt: skip
        self.played[directory.name] = played
        self._write(directory, "pod.json", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": api_pod, "namespace": NAMESPACE, "labels": labels,
                         "uid": secrets.token_hex(16), "creationTimestamp": played.started,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": directory.name, "controller": True,
                                              "uid": job["metadata"].get("uid", "")}]},
            "spec": template["spec"] | {"nodeName": "floe-smoke"},
            "status": {"phase": "Pending", "containerStatuses": [
                _container_status(n, None, played.started) for n in names]},
        })  # fmt: skip
        self._write(directory, "status.json", {"active": 1, "startTime": played.started})
        self._add_events(
            directory,
            _event("Job", directory.name, "SuccessfulCreate", f"Created pod: {api_pod}"),
            _event("Pod", api_pod, "Scheduled",
                   f"Successfully assigned {NAMESPACE}/{api_pod} to floe-smoke"),
        )  # fmt: skip
        self.console.line(f"Job {directory.name} created through the API stand-in, played as {pod}")

    def _mirror(self, directory: Path, played: PlayedJob) -> None:
        stop = directory / "stop.json"
        if stop.is_file() and (directory / "pod.json").is_file():
            grace = int(json.loads(stop.read_text()).get("gracePeriodSeconds") or 30)
            self._add_events(directory, *(
                _event("Pod", played.api_pod, "Killing", f"Stopping container {name}")
                for name in played.containers
            ))  # fmt: skip
            if played.pod:
                self.pods.podman.stop_pod(
                    played.pod, list(played.containers.values()), min(grace, 50)
                )
            self._log(directory, played)
            (directory / "pod.json").unlink()
            played.finished = True
            return
        if played.finished or not played.pod:
            return
        states = {s["name"]: s for s in self.pods.podman.containers(played.pod)}
        statuses = [
            _container_status(name, states.get(podman), played.started)
            for name, podman in played.containers.items()
        ]
        ended = all("terminated" in s["state"] for s in statuses)
        failed = any(s["state"].get("terminated", {}).get("exitCode") for s in statuses)
        running = any("running" in s["state"] for s in statuses)
        phase = (
            ("Failed" if failed else "Succeeded")
            if ended
            else ("Running" if running else "Pending")
        )
        pod = json.loads((directory / "pod.json").read_text())
        pod["status"] = {"phase": phase, "containerStatuses": statuses, "startTime": played.started}
        self._write(directory, "pod.json", pod)
        if running and not played.running_seen:
            played.running_seen = True
            self._add_events(directory, *(
                _event("Pod", played.api_pod, reason, f"{reason} container {name}")
                for name in played.containers for reason in ("Created", "Started")
            ))  # fmt: skip
        self._log(directory, played)
        status: dict[str, Any] = {"active": 0 if ended else 1, "startTime": played.started,
                                  "ready": int(running)}  # fmt: skip
        if ended:
            played.finished = True
            condition = (
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}
                if failed else {"type": "Complete", "status": "True"}
            )  # fmt: skip
            status |= {"failed": 1} if failed else {"succeeded": 1, "completionTime": now()}
            status["conditions"] = [condition | {"lastTransitionTime": now()}]
            self._add_events(directory, _event(
                "Job", played.job, condition.get("reason", "Completed"),
                condition.get("message", "Job completed"), "Warning" if failed else "Normal",
            ))  # fmt: skip
        self._write(directory, "status.json", status)

    def _log(self, directory: Path, played: PlayedJob) -> None:
        first = next(iter(played.containers.values()))
        self._write_text(directory / "log", self.pods.podman.logs(first, None, timestamps=True))

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        path.write_text(text + ("\n" if text else ""))
        path.chmod(0o644)
