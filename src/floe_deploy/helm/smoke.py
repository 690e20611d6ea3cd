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

import fcntl
import functools
import json
import secrets
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Concatenate, ParamSpec, TypeVar

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
from floe_deploy.helm.object_lifecycle import hook_events
from floe_deploy.helm.rendering import PreparedChart, RenderedDependency, prepare_chart, render
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
from floe_deploy.helm.smoke_registry import RegistryPull, registry_pull
from floe_deploy.helm.smoke_services import (
    play_api_standin,
    play_catalog_standin,
    play_services,
    postgres_refuses_plain,
    s3_client,
)
from floe_deploy.helm.smoke_upgrade import (
    HOLD_SECONDS,
    Availability,
    Database,
    PlayedState,
    UpgradeFacts,
    iceberg_state,
    previous_runtime_image,
    run_job_image,
    wait_for_run_pod,
)
from floe_deploy.helm.smoke_values import CATALOG_HOST, POSTGRES, smoke_values
from floe_deploy.images.services import stack_images
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings
from floe_deploy.tls import server_tls

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
    upgrade: UpgradeFacts | None = None
    """With --upgrade-from: what the upgrade to this render changed and kept."""
    hook_logs: dict[str, str] = {}
    """The last output of each hook Job played (floe-migrate's report, a preflight's)."""
    pulls: list[str] = []
    """With --pull-from: every image podman pulled during the smoke, in order."""
    seconds: dict[str, float]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return (
            all(w.ready for w in self.workloads)
            and self.run_status == "SUCCESS"
            and bool(self.rows_in_cube)
            and all(v.startswith("ok") for v in self.checks.values())
            and not self.forbidden
            and (self.upgrade is None or not self.upgrade.problems())
        )


class SmokeFailed(FloeError):
    """A played workload or a platform check failed; the report says which and why."""

    def __init__(self, message: str, remediation: str, report: SmokeReport) -> None:
        super().__init__(message, remediation, exit_code=ExitCode.UNHEALTHY)
        self.report = report


class Smoke:
    """One smoke run: the pods it played, the TLS its played servers speak, and when it reached
    each milestone (seconds since the render began: the report's timeline)."""

    def __init__(
        self,
        settings: Settings,
        console: Console,
        *,
        pull: RegistryPull | None = None,
        postgres_tls: bool = False,
    ) -> None:
        self.console = console
        self.pods = PodPlayer(settings.state_dir, pull)
        self.seconds: dict[str, float] = {}
        self.started = time.monotonic()
        self.mirror = JobMirror(self.pods, [], console)
        self.tls = server_tls("floe-smoke private CA", [POSTGRES["host"], CATALOG_HOST])
        """the smoke's CA, and the one certificate of the played Postgres and REST catalog"""
        self.postgres_tls = postgres_tls
        self.catalog: dict[str, Any] = {}
        """the values' catalog: a REST one is played by the stand-in"""
        self.sslmodes: dict[str, str] = {}
        """each Postgres client's sslmode in the played values (the report says them)"""

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


SMOKE_LOCK = Path(tempfile.gettempdir()) / "floe-smoke.lock"
"""One per machine, as the podman network the smokes play on (whoever's state directory)."""


@contextmanager
def one_smoke_at_a_time(console: Console, lock_file: Path = SMOKE_LOCK) -> Iterator[None]:
    """Every smoke plays on one podman network (floe-smoke): a second smoke on the machine waits
    until the first has removed what it played."""
    with lock_file.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.line("waiting for the other helm.smoke on this machine to end")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


P = ParamSpec("P")
R = TypeVar("R")


def _holding_the_smoke_lock(
    function: Callable[Concatenate[Settings, Console, P], R],
) -> Callable[Concatenate[Settings, Console, P], R]:
    """The whole smoke under one_smoke_at_a_time: nothing is written or timed while it waits."""

    @functools.wraps(function)
    def locked(settings: Settings, console: Console, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with one_smoke_at_a_time(console):
            return function(settings, console, *args, **kwargs)

    return locked


@_holding_the_smoke_lock
def run_smoke(
    settings: Settings,
    console: Console,
    values: str = "demo",
    sets: dict[str, Any] | None = None,
    chart_dir: Path = CHART_DIR,
    *,
    keep: bool = False,
    runtime_image: str | None = None,
    upgrade_from: str | None = None,
    lifecycle: bool = False,
    pull_from: str | None = None,
    tag: str | None = None,
    postgres_tls: bool = False,
) -> SmokeReport:
    """Render, play, prove; everything played is removed afterwards, even on Ctrl-C (unless
    `keep`: then it stays for inspection until the next smoke). With `upgrade_from` (a runtime
    image, or "previous": the image with an older Dagster, see smoke_upgrade) that release is
    played and proven first, then upgraded to this render. With `lifecycle`, after the first run
    also what dagster-k8s does with runs through the API (smoke_lifecycle). With `pull_from`
    (REGISTRY[/PREFIX]), every image is pulled from there at `tag` (see smoke_registry); with
    `postgres_tls`, Postgres requires TLS and the values' sslmode settings apply."""
    pull = _registry_pull(settings, pull_from, tag, upgrade_from or runtime_image)
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    for notice in chart.notices:
        console.line(f"NOTE: {notice}")
    chosen = chosen_values(values, sets, chart_dir=chart_dir, over_defaults=True)
    smoke = Smoke(settings, console, pull=pull, postgres_tls=postgres_tls)
    images, previous = _images(settings, smoke, runtime_image, upgrade_from)
    credentials = {
        name: secrets.token_urlsafe(24) for name in ("postgres", "s3", "cube", "polaris")
    }
    smoke.started = time.monotonic()
    with console.step("render with the real dagster chart"):
        played = smoke_values(chosen, images, ca=smoke.tls.ca, postgres_tls=postgres_tls)
        objects = render(played, chart)
        first = _release_n_render(smoke, chosen, images, previous, chart) if previous else objects
    bucket = str(played["artifacts"]["storage"]["bucket"])
    smoke.catalog = played["artifacts"]["catalog"]
    smoke.sslmodes = _sslmodes(played)
    smoke.mark("render")
    label = values if values in NAMED_VALUES else str(values_path(values, chart_dir))
    report = SmokeReport(values=label, dependencies=list(chart.dependencies), substitutions=[],
                         workloads=[], checks=_registry_checks(chosen, pull), seconds={})  # fmt: skip
    with _terminate_as_interrupt():
        try:
            database = str(played["dagster"]["postgresql"]["postgresqlDatabase"])
            release_images = images | ({"dagster": previous} if previous else {})
            first_played = _play(smoke, first, release_images, credentials, report,
                                 bucket=bucket, databases={database},
                                 lifecycle=lifecycle)  # fmt: skip
            if previous and first_played and report.ok:
                report.upgrade = UpgradeFacts(from_image=previous, to_image=images["dagster"])
                upgrade_leg(smoke, first, objects, first_played, credentials=credentials,
                            report=report, database=database)  # fmt: skip
        except Refused:
            pass
        except BaseException:
            keep = False
            raise
        finally:
            try:
                _what_the_api_and_podman_saw(smoke, report)
            finally:
                _keep_or_remove(smoke, keep=keep)
    report.substitutions = smoke.pods.substitutions
    report.workloads = smoke.pods.workloads
    report.seconds = smoke.seconds
    _raise_unless_ok(report)
    return report


def _registry_pull(
    settings: Settings, pull_from: str | None, tag: str | None, built_here: str | None
) -> RegistryPull | None:
    """--pull-from's settings; refused, before anything plays, without the release's --tag or
    with an image built here."""
    if not pull_from:
        return None
    if built_here:
        raise FloeError(
            "--pull-from plays only what the registry holds; --upgrade-from and --image name "
            "images built here",
            "run the upgrade rehearsal without --pull-from, or push that image to the registry",
        )
    if not tag:
        raise FloeError(
            "--pull-from needs --tag: the version of the release the registry holds",
            "pass --tag VERSION (the bundle's version: `invoke bundle.import` printed it)",
        )
    return registry_pull(settings, pull_from, tag, settings.state_dir / "smoke")


def _registry_checks(chosen: dict[str, Any], pull: RegistryPull | None) -> dict[str, str]:
    """With --pull-from: the values' imageRegistry must be the registry pulled from, else the
    cluster would pull elsewhere (the smoke points every image at the registry itself)."""
    if pull is None:
        return {}
    pulled_from = f"{pull.registry}/{pull.prefix}".rstrip("/")
    configured = str(chosen.get("imageRegistry") or "").rstrip("/")
    verdict = (
        f"ok: {pulled_from}"
        if configured == pulled_from
        else f"FAIL: the values say {configured or 'nothing'}; pods on the cluster would pull "
        f"from there, not from {pulled_from}"
    )
    return {"the values' imageRegistry is the registry pulled from": verdict}


def _keep_or_remove(smoke: Smoke, *, keep: bool) -> None:
    podman = smoke.pods.podman
    if not keep:
        with smoke.console.step("remove everything played"):
            podman.remove_all()
        return
    store = (
        f" (their image store: CONTAINERS_STORAGE_CONF={podman.env['CONTAINERS_STORAGE_CONF']})"
        if podman.pull
        else ""
    )
    smoke.console.line(f"kept for inspection: pods on podman network {podman.network}{store}")


def _what_the_api_and_podman_saw(smoke: Smoke, report: SmokeReport) -> None:
    """Into the report: what the API stand-in refused; with --pull-from, every pull."""
    if smoke.mirror.jobs.is_dir():
        report.forbidden = smoke.mirror.forbidden()
    pull = smoke.pods.podman.pull
    if pull is not None:
        events = smoke.pods.podman.image_events()
        report.pulls = events.pulls
        expected = {pull.image(name) for name in SMOKE_IMAGES}
        report.checks[f"every image pulled from {pull.registry}"] = events.verdict(
            pull.registry, expected
        )


def _raise_unless_ok(report: SmokeReport) -> None:
    """SmokeFailed naming the first thing that failed, with its remediation."""
    if report.ok:
        return
    what, remediation = _failure(report)
    raise SmokeFailed(f"helm.smoke failed: {what}", remediation, report)


def _failure(report: SmokeReport) -> tuple[str, str]:
    """What failed first, and its remediation: a request the rendered RBAC refused, a workload
    not ready, a failed check, the run, else the upgrade."""
    failed = [w for w in report.workloads if not w.ready]
    checks = [f"{k}: {v}" for k, v in report.checks.items() if not v.startswith("ok")]
    if report.forbidden:
        return (
            f"the Kubernetes API refused a request of a played pod: {report.forbidden[0]}",
            "grant the verb on the resource to that ServiceAccount in the Role bound to it (the "
            "dagster chart's rbacEnabled Role, or the Role your values render)",
        )
    if failed:
        return (
            f"{failed[0].workload} did not become ready: {failed[0].detail}",
            failed[0].remediation,
        )
    if checks:
        return checks[0], remediation_for(checks[0])
    if report.run_status != "SUCCESS" or not report.rows_in_cube:
        return (
            f"run {report.run_id} ended {report.run_status} (its pod's log is in the report)",
            remediation_for(report.run_logs),
        )
    problems = report.upgrade.problems() if report.upgrade is not None else []
    return (
        f"the upgrade from {report.upgrade.from_image if report.upgrade else '-'}: "
        f"{problems[0] if problems else 'failed'}",
        "docs/06-deployment-view.md, 'Upgrade and rollback'",
    )


def _postgres_substitution(smoke: Smoke) -> str:
    if not smoke.postgres_tls:
        return (
            "Postgres: without TLS, so the values' sslmode settings are left out (--tls plays it "
            "with TLS required)"
        )
    modes = ", ".join(f"{client} {mode}" for client, mode in smoke.sslmodes.items())
    return (
        "Postgres: TLS required (pg_hba hostssl only), its certificate signed by the smoke's CA; "
        f"the values' sslmode applies: {modes or 'none set (libpq default: prefer)'}"
    )


def _sslmodes(played: dict[str, Any]) -> dict[str, str]:
    """The sslmode each Postgres client is rendered with, where the values set one."""
    artifacts = played["artifacts"]
    modes = {
        "Dagster": (played["dagster"]["postgresql"].get("postgresqlParams") or {}).get("sslmode"),
        "marts and Cube": artifacts["serving"]["postgres"].get("sslmode"),
        "SQL catalog": (artifacts["catalog"].get("postgres") or {}).get("sslmode"),
    }
    return {client: str(mode) for client, mode in modes.items() if mode}


def _release_n_render(
    smoke: Smoke,
    chosen: dict[str, Any],
    images: dict[str, str],
    previous: str,
    chart: PreparedChart,
) -> list[RenderedObject]:
    values = smoke_values(chosen, images | {"dagster": previous}, ca=smoke.tls.ca,
                          postgres_tls=smoke.postgres_tls)  # fmt: skip
    return render(values, chart)


def _images(
    settings: Settings, smoke: Smoke, runtime_image: str | None, upgrade_from: str | None
) -> tuple[dict[str, str], str | None]:
    """The images to play (by name) and release N's runtime image: the registry's when pulling,
    else the project's, copied into podman's store."""
    pull = smoke.pods.podman.pull
    if pull is not None:
        return {name: pull.image(name) for name in SMOKE_IMAGES}, None
    with smoke.console.step("images (the project's, in podman's store)"):
        _, images = stack_images(settings, SMOKE_IMAGES, smoke.console, rebuild=False)
        images["dagster"] = runtime_image or images["dagster"]
        engine = docker_client(settings)
        previous = _release_n_image(settings, smoke.console, images["dagster"], upgrade_from)
        for reference in [*images.values(), *([previous] if previous else [])]:
            smoke.pods.podman.load_image(reference, str(engine.image.inspect(reference).id))
    return images, previous


def _release_n_image(
    settings: Settings, console: Console, current: str, upgrade_from: str | None
) -> str | None:
    if upgrade_from == "previous":
        return previous_runtime_image(settings, console, current)
    return upgrade_from


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
) -> list[tuple[RenderedObject, str]] | None:
    """Install one render and prove it; the pods played, None when it did not get that far."""
    start_platform(smoke, objects, images, credentials, bucket=bucket, databases=databases)
    configmaps = load_configmaps(smoke, objects)
    if not run_hooks(smoke, objects, "pre-install", configmaps, report):
        return None
    played = roll_out(smoke, objects, configmaps)
    if played is None:
        return None
    smoke.mark("all pods ready")
    prove(smoke, objects, played, credentials=credentials, report=report, lifecycle=lifecycle)
    return played


def start_platform(
    smoke: Smoke,
    objects: list[RenderedObject],
    images: dict[str, str],
    credentials: dict[str, str],
    *,
    bucket: str,
    databases: set[str],
) -> None:
    """What the release runs against: the network, its Secret, Postgres, S3, the REST catalog
    stand-in (for a REST catalog), the API stand-in."""
    console, pods, podman = smoke.console, smoke.pods, smoke.pods.podman
    podman.remove_all()
    podman.empty_store()
    podman.create_network()
    secret_name = next(
        (str(o.document["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"])
         for o in objects if o.kind == "Job" and "pre-install" in hook_events(o)), "floe-secrets",
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
    pods.note(_postgres_substitution(smoke))
    with console.step("Postgres and S3 (the project's images)"):
        play_services(pods, images, credentials, bucket, databases,
                      postgres_tls=smoke.tls if smoke.postgres_tls else None)  # fmt: skip
    if smoke.catalog.get("type") == "rest":
        with console.step("Iceberg REST catalog stand-in (TLS)"):
            play_catalog_standin(pods, images["dagster"], smoke.tls, credentials,
                                 catalog=smoke.catalog, bucket=bucket,
                                 postgres_tls=smoke.postgres_tls)  # fmt: skip
    with console.step("Kubernetes API stand-in (for the K8sRunLauncher)"):
        play_api_standin(pods, images["dagster"], objects)


def load_configmaps(smoke: Smoke, objects: list[RenderedObject]) -> list[Path]:
    """The render's ConfigMaps as the files `kube play` reads (replacing an earlier render's)."""
    smoke.pods.config_maps = {o.name: o.document for o in objects if o.kind == "ConfigMap"}
    smoke.mirror.configmaps = configmap_files(objects, smoke.pods.run_dir / "configmaps")
    return smoke.mirror.configmaps


def run_hooks(
    smoke: Smoke,
    objects: list[RenderedObject],
    phase: str,
    configmaps: list[Path],
    report: SmokeReport,
) -> bool:
    """Helm's hook Jobs of one phase, in weight order; False once one fails (as Helm stops)."""
    for hook in hook_jobs(objects, phase):
        with smoke.console.step(f"{phase} hook {hook.label}"):
            code, logs = smoke.pods.run_job(hook, configmaps)
        report.checks[f"{hook.label} exit code"] = (
            "ok: 0" if code == 0 else f"FAIL: {code}: {job_failures(logs)}"
        )
        report.hook_logs[hook.label] = (
            logs if len(logs) <= 16000 else f"{logs[:8000]}\n…\n{logs[-8000:]}"
        )
        if code != 0:
            return False
    return True


def roll_out(
    smoke: Smoke,
    objects: list[RenderedObject],
    configmaps: list[Path],
    *,
    first: str | None = None,
) -> list[tuple[RenderedObject, str]] | None:
    """Play every rendered Deployment (replacing a pod of the same name) and wait until each is
    ready; None when one is not (its state is in the report). A cluster rolls Deployments out
    side by side, the smoke one after another: `first` (a name suffix) goes first, so what is
    measured does not wait for the others."""
    pods = smoke.pods
    services = [o for o in objects if o.kind == "Service"]
    workloads = [o for o in objects if o.kind == "Deployment"]
    if first:
        workloads.sort(key=lambda o: not o.name.endswith(first))
    played: list[tuple[RenderedObject, str]] = []
    with smoke.console.step(f"play {len(workloads)} Deployments"):
        for item in workloads:
            played += [(item, pod) for pod in pods.play_workload(item, services, configmaps)]
    for item, pod in played:
        with smoke.console.step(f"ready: {item.label}"):
            state = wait_ready(pods.podman, item, pod, pods.ips[pod])
        pods.workloads.append(state)
        if not state.ready:
            return None
    return played


def prove(
    smoke: Smoke,
    objects: list[RenderedObject],
    played: list[tuple[RenderedObject, str]],
    *,
    credentials: dict[str, str],
    report: SmokeReport,
    lifecycle: bool = False,
) -> None:
    """The platform works: webserver, code locations over gRPC, Cube, one run to rows in Cube,
    step logs in S3 (and with `lifecycle`, what dagster-k8s does with runs)."""
    pods = smoke.pods
    if smoke.postgres_tls:
        report.checks["Postgres refuses a connection without TLS"] = postgres_refuses_plain(pods)
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


class _Upgrade:
    """One upgrade leg's handles: the played Postgres (Dagster's and the catalog's databases), S3,
    and the facts measured."""

    def __init__(self, smoke: Smoke, credentials: dict[str, str], report: SmokeReport,
                 database: str) -> None:  # fmt: skip
        assert report.upgrade is not None
        self.smoke, self.report, self.facts = smoke, report, report.upgrade
        self.dagster_db = Database(smoke.pods, credentials["postgres"], database)
        self.catalog_db = Database(smoke.pods, credentials["postgres"], str(POSTGRES["database"]))
        self.s3 = s3_client(smoke.pods, credentials)
        self.added_before = 0

    def before(self) -> None:
        facts = self.facts
        facts.revision_before = self.dagster_db.revision()
        facts.runs_before = self.dagster_db.runs()
        facts.events_before = self.dagster_db.events(list(facts.ended_before()))
        facts.snapshots_before, facts.rows_before, self.added_before = iceberg_state(
            self.s3, self.catalog_db
        )

    def after(self) -> None:
        facts = self.facts
        facts.revision_after = self.dagster_db.revision()
        runs = self.dagster_db.runs()
        facts.runs_after = {r: s for r, s in runs.items() if r in facts.runs_before}
        facts.events_after = self.dagster_db.events(list(facts.ended_before()))
        facts.snapshots_after, facts.rows_after, added_after = iceberg_state(
            self.s3, self.catalog_db
        )
        facts.rows_added_since = added_after - self.added_before

    def start_inflight(self, objects: list[RenderedObject], url: str) -> bool:
        """A run that holds HOLD_SECONDS, its Job's pod playing."""
        with self.smoke.console.step(f"a run kept in flight ({HOLD_SECONDS} s) across the upgrade"):
            run_id, _ = dagster_api.submit_batch(
                url, location=code_locations(objects)[0], hold_seconds=HOLD_SECONDS
            )
            self.facts.inflight_run_id = run_id
            if not wait_for_run_pod(self.smoke.mirror, run_id):
                self.report.checks["in-flight run launched"] = "FAIL: no Job was created for it"
                return False
        return True

    def apply(
        self,
        old: list[RenderedObject],
        new: list[RenderedObject],
        old_played: list[tuple[RenderedObject, str]],
    ) -> list[tuple[RenderedObject, str]] | None:
        """The pre-upgrade hooks, then every Deployment replaced; the webserver's unavailable
        window measured throughout."""
        smoke, facts = self.smoke, self.facts
        state = PlayedState(smoke.pods, on_stopped=lambda name: facts.revision_when_quiesced.update(
            {name: self.dagster_db.revision()}), mirror=smoke.mirror)  # fmt: skip
        state.record(old_played)
        state.replay = (old, load_configmaps(smoke, old))
        current = [old_played]
        started = time.monotonic()
        configmaps = load_configmaps(smoke, new)
        state.start()
        try:
            with Availability(lambda: _webserver_urls(smoke.pods, current[0])) as availability:
                hooks_ok = run_hooks(smoke, new, "pre-upgrade", configmaps, self.report)
                for label, logs in self.report.hook_logs.items():
                    if label.endswith("-migrate"):
                        facts.migrate_runs += 1
                        facts.migrate_seconds = _last_json(logs).get("migrate_seconds")
                if not hooks_ok:
                    return None
                smoke.pods.workloads = []
                played = roll_out(smoke, new, configmaps, first="-webserver")
                if played is None:
                    return None
                current[0] = played
        finally:
            state.stop()
        self.report.checks.update({f"controller: {e}": "FAIL" for e in state.errors})
        facts.webserver_unavailable_seconds = round(availability.longest, 1)
        facts.upgrade_seconds = round(time.monotonic() - started, 1)
        return played

    def runs_after(
        self, new: list[RenderedObject], played: list[tuple[RenderedObject, str]]
    ) -> None:
        smoke, facts = self.smoke, self.facts
        url = smoke.pods.url_of(played, "-webserver")
        assert facts.inflight_run_id is not None
        with smoke.console.step("the run in flight ends"):
            facts.inflight_status, _ = follow_run(smoke.mirror, url, facts.inflight_run_id)
        with smoke.console.step("a run after the upgrade"):
            run_id, _ = dagster_api.submit_batch(url, location=code_locations(new)[0])
            facts.new_run_status, _ = follow_run(smoke.mirror, url, run_id)
            facts.new_run_image = run_job_image(smoke.mirror, run_id)

    def rollback(self, old: list[RenderedObject]) -> None:
        """Release N's pre-rollback hook against the migrated database: it must refuse."""
        with self.smoke.console.step("rollback leg: release N's pre-rollback hook"):
            for hook in hook_jobs(old, "pre-rollback"):
                code, logs = self.smoke.pods.run_job(hook, load_configmaps(self.smoke, old))
                verdict = _last_json(logs)
                self.facts.rollback = (
                    f"refused: {verdict['error']}" if code != 0 and verdict.get("error")
                    else f"not refused (exit {code}): {logs[-300:]}"
                )  # fmt: skip


def upgrade_leg(
    smoke: Smoke,
    old: list[RenderedObject],
    new: list[RenderedObject],
    old_played: list[tuple[RenderedObject, str]],
    *,
    credentials: dict[str, str],
    report: SmokeReport,
    database: str,
) -> None:
    """`helm upgrade` from the played release `old` to `new` (docs/06's runbook), measured; then
    the rollback leg. Facts go to report.upgrade; what must hold is UpgradeFacts.problems."""
    leg = _Upgrade(smoke, credentials, report, database)
    leg.before()
    if not leg.start_inflight(old, smoke.pods.url_of(old_played, "-webserver")):
        return
    played = leg.apply(old, new, old_played)
    if played is None:
        return
    smoke.mark("upgraded")
    leg.runs_after(new, played)
    leg.after()
    leg.rollback(old)
    smoke.mark("upgrade proven")


def _webserver_urls(pods: PodPlayer, played: list[tuple[RenderedObject, str]]) -> list[str]:
    """URLs of the played webserver pods that still exist."""
    urls = []
    for item, pod in played:
        if item.name.endswith("-webserver") and pod in pods.ips:
            container = item.document["spec"]["template"]["spec"]["containers"][0]
            urls.append(f"http://{pods.ips[pod]}:{container['ports'][0]['containerPort']}")
    return urls


def _last_json(logs: str) -> dict[str, Any]:
    """floe-migrate's report: the last line of a hook's output that is a JSON object with "ok"
    (podman gives stdout first, then stderr, where `dagster instance migrate` writes)."""
    for line in reversed(logs.splitlines()):
        if line.startswith("{"):
            try:
                loaded = json.loads(line)
            except ValueError:
                continue
            if isinstance(loaded, dict) and "ok" in loaded:
                return loaded
    return {}
