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

This module runs the smoke (`invoke helm.smoke`) and holds its report; the parts it runs are
smoke_values (the values overlay), smoke_services (Postgres, S3, the API stand-in), smoke_pods
(rendered workloads as podman pods), smoke_readiness (ready or not, and the remediation) and
smoke_proof (code locations, a run, rows in Cube, step logs in S3).
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import BaseModel, computed_field

from floe_deploy import dagster_api
from floe_deploy.console import Console
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import (
    CHART_DIR,
    NAMED_VALUES,
    RenderedObject,
    chosen_values,
    values_path,
)
from floe_deploy.helm.rendering import RenderedDependency, prepare_chart, render
from floe_deploy.helm.smoke_jobs import JobMirror
from floe_deploy.helm.smoke_lifecycle import (
    failed_run_log,
    monitored_run,
    run_monitoring,
    terminated_run,
)
from floe_deploy.helm.smoke_pods import PodPlayer, Refused, configmap_files, hook_jobs, job_failures
from floe_deploy.helm.smoke_proof import (
    code_locations,
    cube_rows,
    follow_run,
    location_status,
    objects_under,
    s3_compute_logs,
)
from floe_deploy.helm.smoke_readiness import WorkloadState, http_ok, remediation_for, wait_ready
from floe_deploy.helm.smoke_services import play_api_standin, play_services, s3_client
from floe_deploy.helm.smoke_values import smoke_values
from floe_deploy.images.services import stack_images
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings

SMOKE_IMAGES = ["postgres", "s3", "cube", "dagster", "busybox"]


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
    forbidden: list[str] = []
    """Each request of a played pod the rendered RBAC refused (the API server's message)."""
    seconds: dict[str, float]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return (
            all(w.ready for w in self.workloads)
            and self.run_status == "SUCCESS"
            and bool(self.rows_in_cube)
            and not self.forbidden
            and all(v.startswith("ok") for v in self.checks.values())
        )


class SmokeFailed(FloeError):
    """A played workload or a platform check failed; the report says which and why."""

    def __init__(self, message: str, remediation: str, report: SmokeReport) -> None:
        super().__init__(message, remediation, exit_code=ExitCode.UNHEALTHY)
        self.report = report


class Smoke:
    """One smoke run: the pods it played, and when it reached each milestone (seconds since the
    render began: the report's timeline)."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.console = console
        self.pods = PodPlayer(settings.state_dir)
        self.mirror = JobMirror(self.pods, [], console)
        self.seconds: dict[str, float] = {}
        self.started = time.monotonic()

    def mark(self, name: str) -> None:
        self.seconds[name] = round(time.monotonic() - self.started, 1)


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


def run_smoke(
    settings: Settings,
    console: Console,
    values: str = "demo",
    sets: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
    *,
    keep: bool = False,
    runtime_image: str | None = None,
    lifecycle: bool = False,
) -> SmokeReport:
    """Render, play, prove; everything played is removed afterwards, even on Ctrl-C (unless
    `keep`: then it stays for inspection until the next smoke). With `lifecycle`, after the
    first run also what dagster-k8s does with runs through the API (smoke_lifecycle)."""
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    for notice in chart.notices:
        console.line(f"NOTE: {notice}")
    label = values if values in NAMED_VALUES else str(values_path(values, chart_dir))
    chosen = chosen_values(values, sets, chart_dir=chart_dir, over_defaults=True)
    smoke = Smoke(settings, console)
    with console.step("images (the project's, in podman's store)"):
        _, images = stack_images(settings, SMOKE_IMAGES, console, rebuild=False)
        images["dagster"] = runtime_image or images["dagster"]
        engine = docker_client(settings)
        for reference in images.values():
            smoke.pods.podman.load_image(reference, str(engine.image.inspect(reference).id))
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
                  databases={str(played["dagster"]["postgresql"]["postgresqlDatabase"])},
                  lifecycle=lifecycle)  # fmt: skip
        except Refused:
            pass
        except BaseException:
            keep = False
            raise
        finally:
            if smoke.mirror.jobs.is_dir():
                report.forbidden = smoke.mirror.forbidden()
            if keep:
                console.line(
                    f"kept for inspection: pods on podman network {smoke.pods.podman.network}"
                )
            else:
                with console.step("remove everything played"):
                    smoke.pods.podman.remove_all()
    report.substitutions = smoke.pods.substitutions
    report.workloads = smoke.pods.workloads
    report.seconds = smoke.seconds
    if not report.ok:
        what, remediation = _failure(report)
        raise SmokeFailed(f"helm.smoke failed: {what}", remediation, report)
    return report


def _failure(report: SmokeReport) -> tuple[str, str]:
    """What failed first, and its remediation: a request the rendered RBAC refused, a workload
    not ready, a failed check, else the run."""
    failed = [w for w in report.workloads if not w.ready]
    checks = [f"{k}: {v}" for k, v in report.checks.items() if not v.startswith("ok")]
    if report.forbidden:
        return (
            f"the Kubernetes API refused a request of a played pod: {report.forbidden[0]}",
            "grant the verb on the resource to that ServiceAccount in the Role bound to it (the "
            "dagster chart's rbacEnabled Role, or the Role your values render)",
        )
    if failed:
        return f"{failed[0].workload} did not become ready: {failed[0].detail}", failed[
            0
        ].remediation
    if checks:
        return checks[0], remediation_for(checks[0])
    return (
        f"run {report.run_id} ended {report.run_status} (its pod's log is in the report)",
        remediation_for(report.run_logs),
    )


def _play(
    smoke: Smoke,
    objects: list[RenderedObject],
    images: dict[str, str],
    credentials: dict[str, str],
    report: SmokeReport,
    *,
    bucket: str,
    databases: set[str],
    lifecycle: bool,
) -> None:
    console, pods, podman = smoke.console, smoke.pods, smoke.pods.podman
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
    pods.substitutions.append(
        f"Secret {secret_name}: made from generated credentials (podman secret) in place of "
        "the External Secrets operator"
    )
    with console.step("Postgres and S3 (the project's images)"):
        play_services(pods, images, credentials, bucket, databases)
    with console.step("Kubernetes API stand-in (for the K8sRunLauncher)"):
        play_api_standin(pods, images["dagster"], objects)
    configmaps = configmap_files(objects, pods.run_dir / "configmaps")
    smoke.mirror.configmaps = configmaps
    pods.config_maps = {o.name: o.document for o in objects if o.kind == "ConfigMap"}
    services = [o for o in objects if o.kind == "Service"]
    for hook in hook_jobs(objects):
        with console.step(f"hook {hook.label}"):
            code, logs = pods.run_job(hook, configmaps)
        report.checks[f"{hook.label} exit code"] = (
            "ok: 0" if code == 0 else f"FAIL: {code}: {job_failures(logs)}"
        )
        if code != 0:
            return
    workloads = [o for o in objects if o.kind == "Deployment"]
    played: list[tuple[RenderedObject, str]] = []
    with console.step(f"play {len(workloads)} Deployments"):
        for item in workloads:
            played += [(item, pod) for pod in pods.play_workload(item, services, configmaps)]
    for item, pod in played:
        with console.step(f"ready: {item.label}"):
            state = wait_ready(podman, item, pod, pods.ips[pod])
        pods.workloads.append(state)
        if not state.ready:
            return
    smoke.mark("all pods ready")
    url = pods.url_of(played, "-webserver")
    report.checks["webserver answers /server_info"] = (
        "ok" if http_ok(f"{url}/server_info") else "FAIL"
    )
    locations = code_locations(objects)
    for location in locations:
        report.checks[f"code location {location} loaded over gRPC"] = location_status(url, location)
    cube_url = pods.url_of(played, "-cube")
    report.checks["Cube answers /readyz"] = "ok" if http_ok(f"{cube_url}/readyz") else "FAIL"
    _first_run(smoke, objects, report, url=url, location=locations[0], cube_url=cube_url,
               credentials=credentials)  # fmt: skip
    if lifecycle and report.run_status == "SUCCESS":
        _prove_lifecycle(smoke, objects, url, locations[0], report)
        smoke.mark("run lifecycle proven")


def _first_run(
    smoke: Smoke,
    objects: list[RenderedObject],
    report: SmokeReport,
    *,
    url: str,
    location: str,
    cube_url: str,
    credentials: dict[str, str],
) -> None:
    console, pods = smoke.console, smoke.pods
    with console.step("one run through the K8sRunLauncher"):
        try:
            report.run_id, _ = dagster_api.submit_batch(url, location=location)
            report.run_status, report.run_logs = follow_run(smoke.mirror, url, report.run_id)
        except dagster_api.DagsterApiError as error:
            report.checks["run launched"] = f"FAIL: {error}"
            return
    smoke.mark("first run success")
    if report.run_status == "SUCCESS":
        with console.step("rows in Cube"):
            report.rows_in_cube = cube_rows(cube_url, credentials["cube"])
        where = s3_compute_logs(objects)
        if where:
            bucket, prefix = where
            with console.step("step logs in S3"):
                found = objects_under(s3_client(pods, credentials), bucket, prefix)
            report.checks["step logs in S3 (S3ComputeLogManager)"] = (
                f"ok: {found} objects under s3://{bucket}/{prefix}"
                if found else f"FAIL: nothing under s3://{bucket}/{prefix} after the run"
            )  # fmt: skip


def _prove_lifecycle(
    smoke: Smoke, objects: list[RenderedObject], url: str, location: str, report: SmokeReport
) -> None:
    monitoring = run_monitoring(objects)
    try:
        if not monitoring:
            report.checks["run monitoring"] = "FAIL: dagsterDaemon.runMonitoring is not enabled"
        else:
            interval = float(monitoring.get("poll_interval_seconds") or 120)
            with smoke.console.step("a run held past run monitoring's interval"):
                report.checks["a run longer than the monitoring interval"] = monitored_run(
                    smoke.mirror, url, location, interval
                )
        with smoke.console.step("a run terminated through the webserver"):
            report.checks["a terminated run"] = terminated_run(smoke.mirror, url, location)
        if monitoring and not smoke.mirror.forbidden():
            with smoke.console.step("a run whose pod fails before its worker starts"):
                report.checks["a failed run pod's log in the run's event log"] = failed_run_log(
                    smoke.mirror, url, location, monitoring
                )
    except dagster_api.DagsterApiError as error:
        report.checks["run lifecycle"] = f"FAIL: {error}"
