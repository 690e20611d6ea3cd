"""helm.smoke: render the umbrella chart with the real dagster chart and play its pods with
`podman kube play`, then prove the platform works.

What this is: the rendered workloads (Deployments, the hook Jobs, their ConfigMaps) started on
one machine exactly as rendered (command, args, env, mounts, user, security context), with
Postgres and S3 from the project's images beside them and the chart's Secret made from
generated credentials (in place of the External Secrets operator). What it is not: a cluster.
There is no scheduler, no kube-proxy (a Service is only its name: the pod it selects answers to
it on the pod network, at the container's port), no admission, and one pod per Deployment.

Where a workload needs the Kubernetes API itself (the K8sRunLauncher creating a run's Job), a
stand-in API server answers that call (see kube_api_standin) and the smoke plays the Job's pod;
the kubelet's service-account token mount and KUBERNETES_SERVICE_* variables are added to pods
that automount a token. The report lists each substitution.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import boto3
import httpx
from pydantic import BaseModel, computed_field
from tenacity import (
    RetryError,
    Retrying,
    retry,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from floe_demo.cube import CubeClient, CubeError
from floe_deploy.console import Console
from floe_deploy.demo import dagster_api
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import (
    CHART_DIR,
    NAMED_VALUES,
    RenderedObject,
    deep_merge,
    load_values,
    values_path,
)
from floe_deploy.helm.podman import Podman
from floe_deploy.helm.rendering import RenderedDependency, prepare_chart, render
from floe_deploy.helm.run_pods import instance_config
from floe_deploy.images.services import stack_images
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings
from floe_deploy.tls import server_tls
from floe_deploy.yaml_read import parse_document

SMOKE_IMAGES = ["postgres", "s3", "cube", "dagster", "busybox"]
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
API_PORT = 6443
POSTGRES: dict[str, Any] = {"host": "postgres", "port": 5432, "database": "floe", "user": "floe"}
S3_ENDPOINT = "http://s3:9000"
S3_ACCESS_KEY = "floe-smoke"
READY_TIMEOUT_S = 240.0
RUN_TIMEOUT_S = 300.0
T = TypeVar("T")

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


class SmokeReport(BaseModel):
    values: str
    dependencies: list[RenderedDependency]
    substitutions: list[str]
    workloads: list[WorkloadState]
    checks: dict[str, str]
    run_id: str | None = None
    run_status: str | None = None
    run_logs: str = ""
    """The last log lines of the run's pod when the run did not succeed."""
    rows_in_cube: int | None = None
    seconds: dict[str, float]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return (
            all(w.ready for w in self.workloads)
            and self.run_status == "SUCCESS"
            and bool(self.rows_in_cube)
            and all(v.startswith("ok") for v in self.checks.values())
        )


class _Refused(Exception):
    """podman refused to create a workload's pod; its WorkloadState says why."""


class SmokeFailed(FloeError):
    """A played workload or a platform check failed; the report says which and why."""

    def __init__(self, message: str, remediation: str, report: SmokeReport) -> None:
        super().__init__(message, remediation, exit_code=ExitCode.UNHEALTHY)
        self.report = report


def poll(step: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T | None:
    """Call `step` until it returns something; None when `timeout` passes first."""
    try:
        return Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            retry=retry_if_result(lambda result: result is None),
        )(step)
    except RetryError:
        return None


def _remediation(logs: str) -> str:
    for pattern, advice in REMEDIATIONS:
        if pattern.search(logs):
            return advice
    return "read the log lines above; `invoke helm.template` shows what the pod was rendered with"


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the smoke like Ctrl-C does, so cleanup runs either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _split_reference(reference: str) -> dict[str, str]:
    repository, _, tag = reference.rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def smoke_values(chosen: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """The user's values with what the played platform needs: the images here (one runtime
    image everywhere), Postgres and S3 at the played services, the preflight hook on."""
    runtime = _split_reference(images["dagster"])
    values = deepcopy(chosen)
    values["image"] = runtime
    dagster = values.setdefault("dagster", {})
    for component in ("dagsterWebserver", "dagsterDaemon"):
        dagster.setdefault(component, {})["image"] = runtime
    for deployment in dagster.get("dagster-user-deployments", {}).get("deployments") or []:
        deployment["image"] = runtime
    dagster["postgresql"] = {
        **dagster.get("postgresql", {}),
        "image": _split_reference(images["postgres"]),
        "postgresqlHost": POSTGRES["host"],
        "postgresqlUsername": POSTGRES["user"],
        "postgresqlDatabase": dagster.get("postgresql", {}).get("postgresqlDatabase")
        or POSTGRES["database"],
        "postgresqlParams": {},
    }
    dagster["busybox"] = {"image": _split_reference(images["busybox"])}
    artifacts = values.setdefault("artifacts", {})
    if (artifacts.get("catalog") or {}).get("type", "sql") == "sql":
        artifacts.setdefault("catalog", {})["postgres"] = dict(POSTGRES)
    artifacts["serving"] = {**artifacts.get("serving", {}), "postgres": dict(POSTGRES)}
    artifacts["storage"] = {
        **artifacts.get("storage", {}),
        "endpoint": S3_ENDPOINT,
        "accessKeyId": S3_ACCESS_KEY,
        "pathStyle": True,
    }
    values["cube"] = {
        **values.get("cube", {}),
        "enabled": True,
        "image": _split_reference(images["cube"]),
    }
    values["preflight"] = {**values.get("preflight", {}), "enabled": True}
    values["secrets"] = {**values.get("secrets", {}), "externalSecret": {"enabled": False},
                         "sealedSecret": {"enabled": False}}  # fmt: skip
    return values


class _Tls(BaseModel):
    ca: str
    cert: str
    key: str
    token: str


def _api_tls(host: str) -> _Tls:
    """A throwaway CA and a server certificate for the API stand-in, plus a token."""
    tls = server_tls("floe-smoke-ca", [host])
    return _Tls(ca=tls.ca, cert=tls.cert, key=tls.key, token=secrets.token_urlsafe(32))


def _pod(name: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": spec}  # fmt: skip


def _labels(document: dict[str, Any]) -> dict[str, str]:
    template = (document.get("spec") or {}).get("template") or {}
    return dict(((template.get("metadata") or {}).get("labels")) or {})


def _selected(service: RenderedObject, labels: dict[str, str]) -> bool:
    selector = (service.document.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Smoke:
    """One smoke run: its podman session, its scratch directory, what it played."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.run_dir = settings.state_dir / "smoke"
        self.podman = Podman(settings.state_dir, network="floe-smoke")
        self.substitutions: list[str] = []
        self.workloads: list[WorkloadState] = []
        self.ips: dict[str, str] = {}
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.seconds: dict[str, float] = {}
        self.started = time.monotonic()

    def mark(self, name: str) -> None:
        self.seconds[name] = round(time.monotonic() - self.started, 1)

    # --- what runs beside the chart -------------------------------------------------------

    def play_services(
        self, images: dict[str, str], credentials: dict[str, str], bucket: str, databases: set[str]
    ) -> None:
        """Postgres (with the values' databases) and S3 (with their bucket) from the project's
        images, as pods named like the chart expects."""
        postgres = _pod("postgres", {"floe-smoke": "postgres"}, {
            "containers": [{
                "name": "postgres", "image": images["postgres"], "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "POSTGRES_USER", "value": POSTGRES["user"]},
                        {"name": "POSTGRES_PASSWORD", "value": credentials["postgres"]},
                        {"name": "POSTGRES_DB", "value": POSTGRES["database"]}],
            }],
        })  # fmt: skip
        s3 = _pod("s3", {"floe-smoke": "s3"}, {
            "containers": [{
                "name": "s3", "image": images["s3"], "imagePullPolicy": "IfNotPresent",
                "args": ["server", "/data"],
                "env": [{"name": "MINIO_ROOT_USER", "value": S3_ACCESS_KEY},
                        {"name": "MINIO_ROOT_PASSWORD", "value": credentials["s3"]}],
            }],
        })  # fmt: skip
        for document, alias in ((postgres, "postgres"), (s3, "s3")):
            (pod,) = self.podman.play([document], None)
            self.podman.alias(pod, alias)
            self.ips[alias] = self.podman.pod_ip(pod)
        self._wait(
            "postgres",
            lambda: self.podman.try_("exec", "postgres-postgres", "pg_isready", "-h", "127.0.0.1",
                                     "-q").returncode == 0,
        )  # fmt: skip
        for database in sorted(databases - {POSTGRES["database"]}):
            self.podman("exec", "postgres-postgres", "psql", "-q", "-U", str(POSTGRES["user"]),
                        "-d", str(POSTGRES["database"]), "-c", f'CREATE DATABASE "{database}"')  # fmt: skip
        self._wait("s3", lambda: self._http_ok(f"http://{self.ips['s3']}:9000/", accept_4xx=True))
        self.s3_client(credentials).create_bucket(Bucket=bucket)

    def s3_client(self, credentials: dict[str, str]) -> Any:
        return boto3.client(
            "s3", endpoint_url=f"http://{self.ips['s3']}:9000", aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=credentials["s3"], region_name="us-east-1",
        )  # fmt: skip

    def play_api_standin(self, runtime_image: str) -> _Tls:
        tls = _api_tls("kubernetes")
        account = self.run_dir / "serviceaccount"
        account.mkdir(parents=True, exist_ok=True)
        (account / "token").write_text(tls.token)
        (account / "ca.crt").write_text(tls.ca)
        (account / "namespace").write_text("floe")
        server = self.run_dir / "kube-api"
        server.mkdir(parents=True, exist_ok=True)
        (server / "tls.crt").write_text(tls.cert)
        (server / "tls.key").write_text(tls.key)
        (server / "token").write_text(tls.token)
        script = resources.files("floe_deploy.helm").joinpath("kube_api_standin.py").read_text()
        (server / "server.py").write_text(script)
        jobs = self.run_dir / "jobs"
        jobs.mkdir(parents=True, exist_ok=True)
        for path in (server, jobs, *server.iterdir()):
            path.chmod(0o777 if path.is_dir() else 0o644)
        document = _pod("kubernetes", {"floe-smoke": "kube-api"}, {
            "containers": [{
                "name": "api", "image": runtime_image, "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "/standin/server.py"],
                "env": [{"name": "TLS_CERT", "value": "/standin/tls.crt"},
                        {"name": "TLS_KEY", "value": "/standin/tls.key"},
                        {"name": "TOKEN_FILE", "value": "/standin/token"},
                        {"name": "JOBS_DIR", "value": "/jobs"},
                        {"name": "PORT", "value": str(API_PORT)}],
                "volumeMounts": [{"name": "standin", "mountPath": "/standin"},
                                 {"name": "jobs", "mountPath": "/jobs"}],
            }],
            "volumes": [{"name": "standin", "hostPath": {"path": str(server), "type": "Directory"}},
                        {"name": "jobs", "hostPath": {"path": str(jobs), "type": "Directory"}}],
        })  # fmt: skip
        (pod,) = self.podman.play([document], None)
        self.podman.alias(pod, "kubernetes")
        self.substitutions.append(
            f"Kubernetes API: a stand-in at https://kubernetes:{API_PORT} (TLS, service-account "
            "token) that records the Jobs the K8sRunLauncher creates; the smoke plays each Job's pod"
        )
        return tls

    # --- the chart's own objects -----------------------------------------------------------

    def kubelet_additions(self, spec: dict[str, Any]) -> dict[str, Any]:
        """What a kubelet adds to a pod that automounts its service-account token."""
        if spec.get("automountServiceAccountToken") is False:
            return spec
        spec = deepcopy(spec)
        spec.setdefault("volumes", []).append(
            {"name": "kube-api-access", "hostPath": {"path": str(self.run_dir / "serviceaccount"),
                                                     "type": "Directory"}}
        )  # fmt: skip
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
            document = _pod(item.name, _labels(item.document), template["spec"])
        if document["kind"] == "Pod":
            document["spec"] = self.subpath_files(self.kubelet_additions(document["spec"]))
        else:
            template = document["spec"]["template"]
            template["spec"] = self.subpath_files(self.kubelet_additions(template["spec"]))
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
        try:
            pods = self.podman.play([document], configmaps)
        except FloeError as refused:
            self.workloads.append(
                WorkloadState(workload=item.label, pod="-", ready=False, detail=refused.message,
                              remediation=_remediation(refused.message))
            )  # fmt: skip
            raise _Refused from None
        labels = _labels(item.document) or dict(document["metadata"].get("labels") or {})
        for pod in pods:
            for service in services:
                if _selected(service, labels):
                    self.podman.alias(pod, service.name)
            self.ips[pod] = self.podman.pod_ip(pod)
        return pods

    def url_of(self, played: list[tuple[RenderedObject, str]], suffix: str) -> str:
        """http://<first pod's IP>:<first containerPort> of the Deployment named *suffix."""
        item, pod = next((i, p) for i, p in played if i.name.endswith(suffix))
        container = item.document["spec"]["template"]["spec"]["containers"][0]
        return f"http://{self.ips[pod]}:{container['ports'][0]['containerPort']}"

    def note(self, substitution: str) -> None:
        if substitution not in self.substitutions:
            self.substitutions.append(substitution)

    def wait_ready(self, item: RenderedObject, pod: str) -> WorkloadState:
        """Until every container runs and the rendered readiness probe passes (as a kubelet
        probes: from the node to the pod's IP, or exec in the container)."""
        started = time.monotonic()
        spec = item.document["spec"]["template"]["spec"]
        container = spec["containers"][0]
        probe = container.get("readinessProbe") or {}
        main_name = f"{pod}-{container['name']}"
        last = {"detail": "not started", "container": main_name}

        def step() -> WorkloadState | bool | None:
            states = self.podman.containers(pod)
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
                ok, last["detail"] = self._probe(item, pod, container, probe)
                if ok:
                    return WorkloadState(
                        workload=item.label, pod=pod, ready=True,
                        seconds=round(time.monotonic() - started, 1), probe=_describe(probe),
                    )  # fmt: skip
            return None

        outcome = poll(step, READY_TIMEOUT_S)
        if isinstance(outcome, WorkloadState):
            return outcome
        detail = last["detail"]
        if outcome is None:
            detail = f"not ready within {READY_TIMEOUT_S:.0f} s ({detail})"
        name = last["container"]
        logs = self.podman.logs(name)
        return WorkloadState(
            workload=item.label, pod=pod, ready=False, probe=_describe(probe), detail=detail,
            logs=logs, remediation=_remediation(logs),
        )  # fmt: skip

    def _probe(
        self, item: RenderedObject, pod: str, container: dict[str, Any], probe: dict[str, Any]
    ) -> tuple[bool, str]:
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
        if "exec" in probe:
            done = self.podman.try_("exec", f"{pod}-{container['name']}", *probe["exec"]["command"])
            return done.returncode == 0, (done.stdout + done.stderr).strip()[-200:]
        for kind in ("httpGet", "tcpSocket"):
            if kind in probe:
                port = probe[kind]["port"]
                port = ports.get(port, port)
                if kind == "tcpSocket":
                    return self._http_ok(f"http://{self.ips[pod]}:{port}/", accept_4xx=True), ""
                path = probe[kind].get("path", "/")
                return self._http_ok(f"http://{self.ips[pod]}:{port}{path}"), ""
        return True, "no readiness probe rendered: running counts as ready"

    @staticmethod
    def _http_ok(url: str, *, accept_4xx: bool = False) -> bool:
        try:
            response = httpx.get(url, timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code < (500 if accept_4xx else 400)

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        if poll(lambda: True if ready() else None, timeout, interval=0.5) is None:
            raise FloeError(
                f"{what} did not become ready within {timeout:.0f} s",
                f"`podman logs {what}-{what}` says why",
                exit_code=ExitCode.FAILURE,
            )

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

        return poll(ended, timeout) or (-1, self.podman.logs(names[0]))


def _job_failures(logs: str) -> str:
    """What a failed hook said: floe-preflight's failed checks, else its last lines."""
    try:
        results = json.loads(logs)["results"]
    except (ValueError, KeyError, TypeError):
        return logs[-500:]
    return "; ".join(
        f"{r['service']}: {r['status']}: {r['message']}" for r in results if r["status"] != "ok"
    )


def _describe(probe: dict[str, Any]) -> str:
    if "exec" in probe:
        return "exec " + " ".join(probe["exec"]["command"])
    for kind in ("httpGet", "tcpSocket"):
        if kind in probe:
            return f"{kind} {probe[kind].get('path', '')}:{probe[kind]['port']}"
    return "none"


def _configmaps(objects: list[RenderedObject], directory: Path) -> list[Path]:
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


def _hooks(objects: list[RenderedObject]) -> list[RenderedObject]:
    jobs = [
        o for o in objects
        if o.kind == "Job" and "helm.sh/hook" in ((o.document.get("metadata") or {}).get("annotations") or {})
    ]  # fmt: skip
    return sorted(
        jobs,
        key=lambda o: int(o.document["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
    )


def run_smoke(
    settings: Settings,
    console: Console,
    values: str = "demo",
    sets: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
    *,
    keep: bool = False,
    runtime_image: str | None = None,
) -> SmokeReport:
    """Render, play, prove; everything played is removed afterwards, even on Ctrl-C (unless
    `keep`: then it stays for inspection until the next smoke)."""
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    for notice in chart.notices:
        console.line(f"NOTE: {notice}")
    label = values if values in NAMED_VALUES else str(values_path(values, chart_dir))
    chosen = deep_merge(
        deep_merge(
            load_values(chart_dir / "values.yaml"), load_values(values_path(values, chart_dir))
        ),
        sets or {},
    )
    smoke = Smoke(settings, console)
    with console.step("images (the project's, in podman's store)"):
        _, images = stack_images(settings, SMOKE_IMAGES, console, rebuild=False)
        images["dagster"] = runtime_image or images["dagster"]
        engine = docker_client(settings)
        for reference in images.values():
            smoke.podman.load_image(reference, str(engine.image.inspect(reference).id))
    credentials = {"postgres": secrets.token_urlsafe(18), "s3": secrets.token_urlsafe(18),
                   "cube": secrets.token_urlsafe(24), "polaris": secrets.token_urlsafe(18)}  # fmt: skip
    smoke.started = time.monotonic()
    with console.step("render with the real dagster chart"):
        played = smoke_values(chosen, images)
        objects = render(played, chart)
    bucket = str(played["artifacts"]["storage"]["bucket"])
    smoke.mark("render")
    report = SmokeReport(values=label, dependencies=list(chart.dependencies), substitutions=[],
                         workloads=[], checks={}, seconds={})  # fmt: skip
    with _terminate_as_interrupt():
        try:
            _play(smoke, objects, images, credentials, report, bucket=bucket,
                  databases={str(played["dagster"]["postgresql"]["postgresqlDatabase"])})  # fmt: skip
        except _Refused:
            pass
        except BaseException:
            keep = False
            raise
        finally:
            if keep:
                console.line(f"kept for inspection: pods on podman network {smoke.podman.network}")
            else:
                with console.step("remove everything played"):
                    smoke.podman.remove_all()
    report.substitutions = smoke.substitutions
    report.workloads = smoke.workloads
    report.seconds = smoke.seconds
    if not report.ok:
        failed = [w for w in report.workloads if not w.ready]
        checks = [f"{k}: {v}" for k, v in report.checks.items() if not v.startswith("ok")]
        if failed:
            what = f"{failed[0].workload} did not become ready: {failed[0].detail}"
            remediation = failed[0].remediation
        elif checks:
            what, remediation = checks[0], _remediation(checks[0])
        else:
            what = f"run {report.run_id} ended {report.run_status} (its pod's log is in the report)"
            remediation = _remediation(report.run_logs)
        raise SmokeFailed(f"helm.smoke failed: {what}", remediation, report)
    return report


def _play(
    smoke: Smoke,
    objects: list[RenderedObject],
    images: dict[str, str],
    credentials: dict[str, str],
    report: SmokeReport,
    *,
    bucket: str,
    databases: set[str],
) -> None:
    console, podman = smoke.console, smoke.podman
    podman.remove_all()
    podman.create_network()
    secret_name = next(
        (str(o.document["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"])
         for o in objects if o.kind == "Job"), "floe-secrets",
    )  # fmt: skip
    podman.create_secret(secret_name, {
        "postgresql-password": credentials["postgres"], "POSTGRES_PASSWORD": credentials["postgres"],
        "AWS_SECRET_ACCESS_KEY": credentials["s3"], "POLARIS_CLIENT_SECRET": credentials["polaris"],
        "CUBEJS_API_SECRET": credentials["cube"],
    })  # fmt: skip
    smoke.substitutions.append(
        f"Secret {secret_name}: made from generated credentials (podman secret) in place of "
        "the External Secrets operator"
    )
    with console.step("Postgres and S3 (the project's images)"):
        smoke.play_services(images, credentials, bucket, databases)
    with console.step("Kubernetes API stand-in (for the K8sRunLauncher)"):
        smoke.play_api_standin(images["dagster"])
    configmaps = _configmaps(objects, smoke.run_dir / "configmaps")
    smoke.config_maps = {o.name: o.document for o in objects if o.kind == "ConfigMap"}
    services = [o for o in objects if o.kind == "Service"]
    for hook in _hooks(objects):
        with console.step(f"hook {hook.label}"):
            code, logs = smoke.run_job(hook, configmaps)
        report.checks[f"{hook.label} exit code"] = (
            "ok: 0" if code == 0 else f"FAIL: {code}: {_job_failures(logs)}"
        )
        if code != 0:
            return
    workloads = [o for o in objects if o.kind == "Deployment"]
    played: list[tuple[RenderedObject, str]] = []
    with console.step(f"play {len(workloads)} Deployments"):
        for item in workloads:
            played += [(item, pod) for pod in smoke.play_workload(item, services, configmaps)]
    for item, pod in played:
        with console.step(f"ready: {item.label}"):
            state = smoke.wait_ready(item, pod)
        smoke.workloads.append(state)
        if not state.ready:
            return
    smoke.mark("all pods ready")
    url = smoke.url_of(played, "-webserver")
    report.checks["webserver answers /server_info"] = (
        "ok" if smoke._http_ok(f"{url}/server_info") else "FAIL"
    )
    locations = code_locations(objects)
    for location in locations:
        report.checks[f"code location {location} loaded over gRPC"] = _location_status(
            url, location
        )
    cube_url = smoke.url_of(played, "-cube")
    report.checks["Cube answers /readyz"] = "ok" if smoke._http_ok(f"{cube_url}/readyz") else "FAIL"
    with console.step("one run through the K8sRunLauncher"):
        try:
            report.run_id, _ = dagster_api.submit_batch(url, location=locations[0])
            report.run_status, report.run_logs = _follow_run(smoke, url, report.run_id, configmaps)
        except dagster_api.DagsterApiError as error:
            report.checks["run launched"] = f"FAIL: {error}"
            return
    smoke.mark("first run success")
    if report.run_status == "SUCCESS":
        with console.step("rows in Cube"):
            report.rows_in_cube = _cube_rows(cube_url, credentials["cube"])
        where = s3_compute_logs(objects)
        if where:
            bucket, prefix = where
            with console.step("step logs in S3"):
                found = _objects_under(smoke.s3_client(credentials), bucket, prefix)
            report.checks["step logs in S3 (S3ComputeLogManager)"] = (
                f"ok: {found} objects under s3://{bucket}/{prefix}"
                if found else f"FAIL: nothing under s3://{bucket}/{prefix} after the run"
            )  # fmt: skip


def code_locations(objects: list[RenderedObject]) -> list[str]:
    """The code location names of the rendered workspace (one per user deployment)."""
    for item in objects:
        if item.kind == "ConfigMap" and item.name.endswith("-workspace-yaml"):
            workspace = parse_document(item.document["data"]["workspace.yaml"])
            return [e["grpc_server"]["location_name"] for e in workspace.get("load_from") or []]
    return []


def _location_status(url: str, location: str) -> str:
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name
      loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    try:
        body = httpx.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
    except (httpx.HTTPError, ValueError) as error:
        return f"FAIL: {error}"
    for entry in body["data"]["workspaceOrError"].get("locationEntries", []):
        if entry["name"] == location:
            kind = entry["locationOrLoadError"]["__typename"]
            return "ok" if kind == "RepositoryLocation" else f"FAIL: {entry['locationOrLoadError']}"
    return f"FAIL: no location {location} in the workspace"


def _follow_run(smoke: Smoke, url: str, run_id: str, configmaps: list[Path]) -> tuple[str, str]:
    """Play each Job the K8sRunLauncher creates for the run; the run's final status, and its
    pods' last log lines when it did not succeed."""
    jobs = smoke.run_dir / "jobs"
    played: dict[str, str] = {}

    def step() -> str | None:
        for path in sorted(jobs.glob("*.json")):
            if path.name.endswith(".status.json") or path.stem in played:
                continue
            job = json.loads(path.read_text())
            labels = (job["spec"]["template"].get("metadata") or {}).get("labels") or {}
            if labels.get("dagster/run-id") != run_id:
                continue
            item = RenderedObject(template="dagster-k8s (K8sRunLauncher)", document=job)
            (pod,) = smoke.play_workload(item, [], configmaps)
            container = job["spec"]["template"]["spec"]["containers"][0]["name"]
            played[path.stem] = f"{pod}-{container}"
            smoke.console.line(
                f"run {run_id[:8]}: Job {path.stem} created by the daemon, played as {pod}"
            )
        status = dagster_api.run_status(url, run_id)
        return status if status in dagster_api.FINISHED else None

    status = poll(step, RUN_TIMEOUT_S) or "TIMEOUT"
    for stem in played:
        (jobs / f"{stem}.status.json").write_text(
            json.dumps({"succeeded": 1} if status == "SUCCESS" else {"failed": 1})
        )
    if status == "SUCCESS":
        return status, ""
    return status, "\n".join(
        smoke.podman.logs(container, lines=40) for container in played.values()
    )


def s3_compute_logs(objects: list[RenderedObject]) -> tuple[str, str] | None:
    """(bucket, prefix) where the rendered instance keeps step logs, if in S3."""
    manager = instance_config(objects).get("compute_logs") or {}
    if manager.get("class") != "S3ComputeLogManager":
        return None
    config = manager.get("config") or {}
    return str(config["bucket"]), str(config.get("prefix") or "dagster")


def _objects_under(client: Any, bucket: str, prefix: str) -> int:
    """How many objects the run's step logs left (uploaded as each step ends; waited for)."""

    @retry(stop=stop_after_delay(30), wait=wait_fixed(1), retry=retry_if_result(lambda n: n == 0))
    def count() -> int:
        return len(client.list_objects(Bucket=bucket, Prefix=prefix).get("Contents") or [])

    try:
        return count()
    except RetryError:
        return 0


def _cube_rows(cube_url: str, secret: str) -> int:
    @retry(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True,
           retry=retry_if_exception_type((CubeError, AssertionError, httpx.HTTPError)))  # fmt: skip
    def rows() -> int:
        count = CubeClient(cube_url, secret, timeout=10).order_count()
        assert count > 0
        return count

    try:
        return rows()
    except (CubeError, AssertionError, httpx.HTTPError):
        return 0
