"""`helm.smoke --upgrade-from`: the second release, rehearsed as docs/06's runbook does it.

Release N is played and proven (a run lands rows), then a run is started that outlives the
upgrade, and the checkout's render (N+1) is applied as `helm upgrade` would: its pre-upgrade
hooks in weight order (the preflight, then floe-migrate, which scales the daemon and webserver to 0
through the API stand-in, checks that no daemon still beats, and migrates Dagster's schema), then
every Deployment replaced. What must hold afterwards, each measured: the schema migrated once and
only after the old daemon and webserver stopped, run history and event logs as they were, every
Iceberg snapshot and row still there, the in-flight run ended in a defined state, a new run
executed with the new image, and the webserver's unavailable window. Then the rollback leg:
release N's pre-rollback hook must refuse, naming the restore runbook.

N differs from N+1 as a real release would: the runtime image built with an older Dagster minor
from PyPI (PREVIOUS_DAGSTER, whose schema lacks later revisions), so `instance migrate` does real
work. The Deployments' scale and pods the hook sees are the host's view of the played pods,
written where the API stand-in reads them (`jobs/deployments`, `jobs/pods`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import BaseModel

from floe_demo.config import DemoConfig
from floe_deploy import dagster_api
from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.kube_api_standin import DEPLOYMENTS
from floe_deploy.helm.smoke_jobs import JobMirror
from floe_deploy.helm.smoke_pods import PodPlayer
from floe_deploy.helm.smoke_values import POSTGRES
from floe_deploy.images.wheels import download_wheels
from floe_deploy.platform.engine import docker_client
from floe_deploy.settings import Settings
from floe_deploy.waiting import poll

PREVIOUS_DAGSTER = "1.9.3"
"""Release N's Dagster: the dagster chart's own version, before schema revision 7e2f3204cf8e."""
PREVIOUS_LIBRARIES = "0.25.3"
HOLD_SECONDS = 75
"""How long the in-flight run waits before it generates: longer than the upgrade takes."""


class UpgradeFacts(BaseModel):
    """What the upgrade changed and kept, as measured on the played pods."""

    from_image: str
    to_image: str
    revision_before: str | None = None
    revision_after: str | None = None
    revision_when_quiesced: dict[str, str | None] = {}
    """The schema revision at the moment each Deployment's pods were gone (before migrating)."""
    migrate_runs: int = 0
    migrate_seconds: float | None = None
    runs_before: dict[str, str] = {}
    runs_after: dict[str, str] = {}
    events_before: int | None = None
    events_after: int | None = None
    """Event log entries of the runs that had ended before the upgrade."""
    snapshots_before: list[int] = []
    snapshots_after: list[int] = []
    rows_before: int | None = None
    rows_after: int | None = None
    rows_added_since: int | None = None
    inflight_run_id: str | None = None
    inflight_status: str | None = None
    new_run_status: str | None = None
    new_run_image: str | None = None
    webserver_unavailable_seconds: float | None = None
    upgrade_seconds: float | None = None
    rollback: str | None = None

    def ended_before(self) -> dict[str, str]:
        """The runs that had ended before the upgrade: their status and event log must stay as
        they were. A run still under way (a schedule tick's, or the one kept in flight) goes on
        and may end during the upgrade; it must only still be there."""
        return {r: s for r, s in self.runs_before.items() if s in dagster_api.FINISHED}

    def problems(self) -> list[str]:
        found = []
        if self.revision_after == self.revision_before:
            found.append(f"the schema stayed at {self.revision_before}: nothing migrated")
        if self.migrate_runs != 1:
            found.append(f"the migration ran {self.migrate_runs} times, not once")
        for deployment, revision in self.revision_when_quiesced.items():
            if revision != self.revision_before:
                found.append(f"the schema was already {revision} when {deployment} stopped")
        changed = {r: f"{s} → {self.runs_after.get(r, 'gone')}"
                   for r, s in self.ended_before().items() if self.runs_after.get(r) != s}  # fmt: skip
        if changed:
            found.append(f"runs that had ended before the upgrade changed or were lost: {changed}")
        gone = [r for r in self.runs_before if r not in self.runs_after]
        if gone:
            found.append(f"runs under way before the upgrade are gone: {gone}")
        if self.events_after != self.events_before:
            found.append(
                f"event log entries {self.events_before} before, {self.events_after} after"
            )
        if not set(self.snapshots_before) <= set(self.snapshots_after):
            found.append("Iceberg snapshots of before the upgrade are gone")
        if self.rows_before is None or self.rows_after != self.rows_before + (
            self.rows_added_since or 0
        ):
            found.append(f"rows {self.rows_before} before, {self.rows_after} after, "
                         f"{self.rows_added_since} appended since")  # fmt: skip
        if self.inflight_status not in dagster_api.FINISHED:
            found.append(f"the run in flight during the upgrade ended {self.inflight_status}")
        if self.new_run_status != "SUCCESS" or self.new_run_image != self.to_image:
            found.append(f"a run after the upgrade ended {self.new_run_status} on image "
                         f"{self.new_run_image}, not SUCCESS on {self.to_image}")  # fmt: skip
        if not (self.rollback or "").startswith("refused"):
            found.append(f"the rollback across the migration was not refused: {self.rollback}")
        return found


def previous_runtime_image(settings: Settings, console: Console, current: str) -> str:
    """The runtime image with Dagster PREVIOUS_DAGSTER in place of the locked one: release N.
    Its wheels are resolved on the host (the build itself reaches no index)."""
    tag = f"floe/dagster-previous:{current.rpartition(':')[2]}-dagster{PREVIOUS_DAGSTER}"
    engine = docker_client(settings)
    if engine.image.exists(tag):
        return tag
    packages = [f"dagster=={PREVIOUS_DAGSTER}", f"dagster-webserver=={PREVIOUS_DAGSTER}",
                f"dagster-graphql=={PREVIOUS_DAGSTER}", f"dagster-pipes=={PREVIOUS_DAGSTER}",
                *(f"dagster-{name}=={PREVIOUS_LIBRARIES}" for name in ("postgres", "k8s", "aws"))]  # fmt: skip
    uv = shutil.which("uv")
    if uv is None:
        raise FloeError("uv is not on PATH", "run scripts/bootstrap")
    with (
        console.step(f"release N's runtime image (Dagster {PREVIOUS_DAGSTER})"),
        tempfile.TemporaryDirectory(prefix="floe-previous-") as scratch,
    ):
        context = Path(scratch)
        download_wheels(packages, "amd64", context / "wheels")
        shutil.copy(uv, context / "uv")
        (context / "Dockerfile").write_text(
            "ARG CURRENT\nFROM ${CURRENT}\nUSER 0\n"
            "RUN --mount=type=bind,source=uv,target=/usr/local/bin/uv "
            "--mount=type=bind,source=wheels,target=/wheels "
            "uv pip install --quiet --python /opt/floe/venv/bin/python --no-index "
            f"--find-links /wheels {' '.join(packages)}\nUSER 1000:1000\n"
        )
        engine.build(context, tags=[tag], build_args={"CURRENT": current},
                     labels={"org.floe-deploy.previous-of": current}, load=True,
                     progress=False)  # fmt: skip
    return tag


class PlayedState:
    """The Deployments and pods the API stand-in shows floe-migrate (files under jobs/), and the
    controller that acts on its scale requests: 0 stops the Deployment's pods, more plays them
    again (a refused migration's restore). Its thread also keeps the run Jobs current."""

    def __init__(self, pods: PodPlayer, on_stopped: Any, mirror: JobMirror | None = None) -> None:
        self.pods = pods
        self.mirror = mirror
        """The run Jobs' mirror, kept current from this thread while the main one upgrades."""
        self.root = pods.run_dir / "jobs"
        self.on_stopped = on_stopped
        self.deployments: dict[str, tuple[RenderedObject, list[str]]] = {}
        self.replay: tuple[list[RenderedObject], list[Path]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def record(self, played: list[tuple[RenderedObject, str]]) -> None:
        (self.root / DEPLOYMENTS).mkdir(parents=True, exist_ok=True)
        (self.root / DEPLOYMENTS).chmod(0o777)
        by_name: dict[str, tuple[RenderedObject, list[str]]] = {}
        for item, pod in played:
            by_name.setdefault(item.name, (item, []))[1].append(pod)
        for name, (item, pods) in by_name.items():
            self.deployments[name] = (item, pods)
            document = json.loads(json.dumps(item.document))
            document.setdefault("metadata", {})["namespace"] = NAMESPACE
            (self.root / DEPLOYMENTS / f"{name}.json").write_text(json.dumps(document))
            (self.root / DEPLOYMENTS / f"{name}.json").chmod(0o666)
            labels = dict(item.document["spec"]["template"]["metadata"].get("labels") or {})
            for pod in pods:
                self._write_pod(pod, labels)

    def _pod_dir(self, pod: str) -> Path:
        return self.root / f"deployment-pod-{pod}"

    def _write_pod(self, pod: str, labels: dict[str, str]) -> None:
        directory = self._pod_dir(pod)
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)
        (directory / "pod.json").write_text(json.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": NAMESPACE, "labels": labels},
            "spec": {"containers": []}, "status": {"phase": "Running"},
        }))  # fmt: skip
        (directory / "pod.json").chmod(0o644)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="smoke-controller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            if self.mirror is not None:
                self.mirror.sync()
            for request in sorted((self.root / DEPLOYMENTS).glob("*.scale")):
                name = request.stem
                try:
                    replicas = int(request.read_text().strip() or 0)
                    request.unlink()
                    self._scale(name, replicas)
                except Exception as error:
                    self.errors.append(f"scaling {name}: {error}")

    def _scale(self, name: str, replicas: int) -> None:
        item, pods = self.deployments[name]
        if replicas == 0:
            for pod in pods:
                self.pods.podman.try_("pod", "rm", "-f", "-t", "10", pod)
                shutil.rmtree(self._pod_dir(pod), ignore_errors=True)
            self.on_stopped(name)
            return
        services = [o for o in (self.replay[0] if self.replay else []) if o.kind == "Service"]
        configmaps = self.replay[1] if self.replay else []
        started = self.pods.play_workload(item, services, configmaps)
        self.record([(item, pod) for pod in started])


class Availability:
    """How long no webserver pod answered /server_info, measured every 0.25 s in a thread."""

    def __init__(self, urls: Any) -> None:
        self.urls = urls
        self.longest = 0.0
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webserver-probe", daemon=True)

    def __enter__(self) -> Availability:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _answers(self) -> bool:
        for url in self.urls():
            try:
                if httpx.get(f"{url}/server_info", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                continue
        return False

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            now = time.monotonic()
            if self._answers():
                self._down_since = None
            else:
                self._down_since = self._down_since or now
                self.longest = max(self.longest, now - self._down_since)


class Database:
    """The played Postgres, read from the host: Dagster's schema, runs and events."""

    def __init__(self, pods: PodPlayer, password: str, database: str) -> None:
        self.conninfo = (
            f"host={pods.ips['postgres']} port=5432 user={POSTGRES['user']} "
            f"password={password} dbname={database} connect_timeout=5"
        )
        if pods.postgres_ca is not None:
            # By IP from the host: the chain is checked, the name (postgres) cannot be.
            self.conninfo += f" sslmode=verify-ca sslrootcert={pods.postgres_ca}"

    def one(self, sql: str, *args: Any) -> Any:
        with psycopg.connect(self.conninfo) as connection:
            row = connection.execute(sql, args).fetchone()
        return row[0] if row else None

    def revision(self) -> str | None:
        value = self.one("SELECT version_num FROM alembic_version")
        return str(value) if value is not None else None

    def runs(self) -> dict[str, str]:
        with psycopg.connect(self.conninfo) as connection:
            rows = connection.execute("SELECT run_id, status FROM runs").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def events(self, run_ids: list[str]) -> int:
        return int(self.one("SELECT count(*) FROM event_logs WHERE run_id = ANY(%s)", run_ids))


def iceberg_state(s3: Any, catalog: Database) -> tuple[list[int], int, int]:
    """(snapshot ids, rows of the current snapshot, rows each snapshot added) of the demo's
    orders table, read from its metadata file (the SQL catalog names it)."""
    demo = DemoConfig()
    location = catalog.one(
        "SELECT metadata_location FROM iceberg_tables WHERE table_namespace = %s "
        "AND table_name = %s", demo.namespace, demo.table,
    )  # fmt: skip
    if location is None:
        return [], 0, 0
    bucket, _, key = str(location).removeprefix("s3://").partition("/")
    metadata = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    snapshots = metadata.get("snapshots") or []
    current: dict[str, Any] = next((s for s in snapshots if s["snapshot-id"] == metadata["current-snapshot-id"]),
                   {"summary": {}})  # fmt: skip
    return ([s["snapshot-id"] for s in snapshots],
            int(current["summary"].get("total-records", 0)),
            sum(int(s["summary"].get("added-records", 0)) for s in snapshots))  # fmt: skip


def run_job_image(mirror: JobMirror, run_id: str) -> str | None:
    """The image of the run's (first) Job as dagster-k8s created it."""
    for played in mirror.of_run(run_id):
        path = mirror.jobs / played.job / "job.json"
        if path.is_file():
            job = json.loads(path.read_text())
            return str(job["spec"]["template"]["spec"]["containers"][0]["image"])
    return None


def wait_for_run_pod(mirror: JobMirror, run_id: str, timeout: float = 120) -> bool:
    """Until the daemon has created the run's Job and its pod plays."""

    def played() -> bool | None:
        mirror.sync()
        return True if mirror.of_run(run_id) else None

    return bool(poll(played, timeout=timeout, interval=1.0))
