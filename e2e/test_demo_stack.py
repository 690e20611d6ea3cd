"""`invoke demo.*` against the real compose stack: Postgres, S3, Dagster (webserver, daemon, code
location in the runtime image) and Cube, each test driving the tasks as a user does.

The stack runs under its own project name, state directory and free ports, so a user's demo on
the same machine is never touched.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from python_on_whales import DockerClient
from tenacity import retry, stop_after_delay, wait_fixed

from floe_demo.generator import batch_id
from floe_demo.loader import IcebergLoader
from floe_deploy import dagster_api
from floe_deploy.demo.diagnosis import PROJECT_LABEL, unhealthy_services
from floe_deploy.demo.stack import DEFAULT_SERVICES, DemoStack
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.settings import DemoPorts, load_settings
from floe_deploy.testing import isolated_demo_env, run_task
from floe_deploy.testing.browser import RenderedPage, render, screenshot
from floe_deploy.testing.containers import run_labels


def up_json(env: dict[str, str], *options: str) -> dict[str, Any]:
    done = run_task("demo.up", *options, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def status_json(env: dict[str, str]) -> dict[str, Any]:
    done = run_task("demo.status", "--json", env=env)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Demo:
    """The stack under test, seen through the toolkit's own settings."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.first_up: dict[str, Any] = {}
        self.stack = DemoStack(
            load_settings(
                state_dir=env["FLOE_STATE_DIR"],
                demo={
                    "project": env["FLOE_DEMO__PROJECT"],
                    "ports": {
                        name: int(env[f"FLOE_DEMO__PORTS__{name.upper()}"])
                        for name in DemoPorts.model_fields
                    },
                },
            )
        )

    def cube_orders(self) -> int:
        from floe_deploy.demo.operations import cube_client  # noqa: PLC0415

        return cube_client(self.stack).order_count()

    def loader(self) -> IcebergLoader:
        return IcebergLoader.from_artifacts(self.stack.artifacts("host"), self.stack.secrets())


@pytest.fixture(scope="module")
def demo(docker: DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One stack for the module, with a one-minute schedule; removed with its volumes at the end."""
    env = isolated_demo_env(
        tmp_path_factory.mktemp("demo-state"), f"floe-e2e-{secrets.token_hex(3)}"
    )
    stack = Demo(env)
    try:
        stack.first_up = up_json(env, "--interval", "* * * * *", "--batch-size", "50")
        yield stack
    finally:
        run_task("demo.down", "--volumes", env=env)


def project_objects(docker: DockerClient, project: str) -> tuple[list[str], list[str], list[str]]:
    label = {"label": f"{PROJECT_LABEL}={project}"}
    return (
        [c.name for c in docker.container.list(all=True, filters=label)],
        [n.name for n in docker.network.list(filters=label)],
        [v.name for v in docker.volume.list(filters=label)],
    )


@retry(stop=stop_after_delay(120), wait=wait_fixed(1), reraise=True)
def wait_for_cube_above(demo: Demo, count: int) -> int:
    now = demo.cube_orders()
    assert now > count, f"Cube still answers {now} orders"
    return now


@pytest.mark.requirement("007-FR-030", evidence="real")
def test_first_up_reports_a_changed_stack_its_first_run_and_urls(demo: Demo) -> None:
    report = demo.first_up
    assert report["changed"] is True
    assert report["first_run"]
    assert report["cube_orders"] > 0
    ports = demo.stack.ports
    assert report["urls"]["Dagster UI"] == f"http://127.0.0.1:{ports.dagster}"
    assert report["urls"]["Cube API"] == f"http://127.0.0.1:{ports.cube}/cubejs-api/v1"
    assert report["urls"]["Dashboard"] == f"http://127.0.0.1:{ports.dashboard}"
    steps = [step["step"] for step in report["steps"]]
    assert steps[0].startswith("platform preflight")
    assert steps[-1] == "rows in Cube"
    assert any(step.startswith("compose up --wait") for step in steps)


@pytest.mark.requirement("007-FR-029", evidence="real")
def test_generated_orders_reach_cube(demo: Demo) -> None:
    """The seed's flow: count in Cube, trigger one batch, the count in Cube grows."""
    before = demo.cube_orders()
    assert before > 0
    done = run_task("demo.trigger", "--json", env=demo.env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCESS"
    assert wait_for_cube_above(demo, before) > before


@retry(stop=stop_after_delay(120), wait=wait_fixed(1), reraise=True)
def status_once_cube_caught_up(demo: Demo) -> dict[str, Any]:
    """demo.status once Cube answers what the mart holds: a batch that just landed (the previous
    test's, or a schedule tick) reaches Cube after its query cache refreshes, not at once."""
    report = status_json(demo.env)
    rows = report["rows"]
    assert rows["cube_orders"] == rows["mart_orders"], rows
    return report


@pytest.mark.requirement("007-FR-030", evidence="real")
def test_status_reports_services_runs_and_rows(demo: Demo) -> None:
    report = status_once_cube_caught_up(demo)
    assert report["healthy"] is True
    assert {s["service"] for s in report["services"]} == {
        "postgres", "s3", "code-location", "webserver", "daemon", "cube", "dashboard",
    }  # fmt: skip
    assert all(s["health"] == "healthy" for s in report["services"])
    # A schedule tick may have just created the newest run: in flight (NOT_STARTED until the
    # daemon submits it) or done, never failed.
    in_flight = {"NOT_STARTED", "QUEUED", "STARTING", "STARTED"}
    assert report["last_run"]["status"] in {"SUCCESS", *in_flight}
    rows = report["rows"]
    assert rows["iceberg"] >= rows["mart_orders"] > 0
    assert all(port.startswith("127.0.0.1:") for s in report["services"] for port in s["ports"])


def cube_figures(demo: Demo) -> tuple[int, float]:
    from floe_deploy.demo.operations import cube_client  # noqa: PLC0415

    (row,) = cube_client(demo.stack).load({"measures": ["Orders.count", "Orders.revenue"]})
    return int(row["Orders.count"]), round(float(row["Orders.revenue"]), 2)


@retry(stop=stop_after_delay(180), wait=wait_fixed(2), reraise=True)
def dashboard_between_equal_figures(demo: Demo) -> tuple[RenderedPage, int, float]:
    """The rendered page, between two equal answers of Cube and the mart: the schedule lands a
    batch a minute, so a page rendered across a landing is retried, never compared."""
    before = cube_figures(demo)
    page = render(demo.stack.dashboard_url)
    after = cube_figures(demo)
    mart = status_json(demo.env)["rows"]["mart_orders"]
    assert page.by_id("kpi-orders").attributes.get("data-value"), "the page shows no figures"
    assert before == after, (before, after)
    assert mart == before[0], (mart, before)
    return page, *before


@pytest.mark.requirement("007-FR-050", evidence="real")
def test_the_dashboard_shows_what_cube_and_the_mart_hold(demo: Demo) -> None:
    """Headless Chromium renders the dashboard; its orders and revenue are Cube's and the mart's,
    its quality figures and runs are Dagster's, and no Cube credential reaches the browser."""
    page, orders, revenue = dashboard_between_equal_figures(demo)
    body = next(e for e in page.elements if e.tag == "body")
    assert body.attributes["data-state"] == "ready"
    assert int(page.by_id("kpi-orders").attributes["data-value"]) == orders
    assert float(page.by_id("kpi-revenue").attributes["data-value"]) == pytest.approx(revenue)
    by_status = {
        e.attributes["data-status"]: int(e.text) for e in page.with_attribute("data-status")
    }
    assert sum(by_status.values()) == orders
    bars = page.with_attribute("data-revenue")
    assert bars
    assert sum(float(b.attributes["data-revenue"]) for b in bars) == pytest.approx(
        revenue, abs=0.01 * len(bars)
    )
    quality = {e.attributes["data-figure"]: int(e.text) for e in page.with_attribute("data-figure")}
    assert quality["rows"] > 0
    assert {"null_cells", "duplicate_rows", "late_rows"} <= set(quality)
    checks = {e.attributes["data-check"] for e in page.with_attribute("data-check")}
    assert checks == {"null_share_as_configured", "late_rows_counted", "duplicates_removed"}
    assert "SUCCESS" in {
        e.attributes["data-run-status"] for e in page.with_attribute("data-run-status")
    }

    secret = demo.stack.credentials(create=False).cube_api_secret.get_secret_value()
    served = [
        httpx.get(f"{demo.stack.dashboard_url}{path}", timeout=10).text
        for path in ("/", "/static/app.js", "/static/style.css", "/api/summary")
    ]
    assert not any(secret in text or "eyJ" in text for text in [*served, page.html])

    shot = screenshot(
        demo.stack.dashboard_url, PROJECT_ROOT / "build" / "reports" / "dashboard.png"
    )
    assert shot.stat().st_size > 10_000


@pytest.mark.requirement("007-FR-030", evidence="real")
def test_second_up_changes_nothing(demo: Demo, docker: DockerClient) -> None:
    label = {"label": f"{PROJECT_LABEL}={demo.stack.project}"}
    ids_before = {c.id for c in docker.container.list(filters=label)}
    report = up_json(demo.env)
    assert report["changed"] is False
    assert report["first_run"] is None
    assert {c.id for c in docker.container.list(filters=label)} == ids_before


@pytest.mark.requirement("007-FR-030", evidence="real")
def test_credentials_only_from_their_task(demo: Demo) -> None:
    made = demo.stack.credentials(create=False)
    password = made.postgres_password.get_secret_value()
    up = run_task("demo.up", env=demo.env)
    status = run_task("demo.status", env=demo.env)
    assert password not in up.stdout + up.stderr + status.stdout + status.stderr
    shown = run_task("demo.credentials", "--json", env=demo.env)
    assert json.loads(shown.stdout)["postgres_password"] == password
    assert (demo.stack.credentials_file.stat().st_mode & 0o777) == 0o600
    assert (demo.stack.env_file.stat().st_mode & 0o777) == 0o600


@pytest.mark.requirement("007-FR-032", evidence="real")
def test_postgres_restart_loses_and_duplicates_no_batch(demo: Demo) -> None:
    """Restart Postgres while a scheduled batch runs (the restart waits for a run in progress):
    that batch still lands (its run, or Dagster's retry of it, succeeds), a later scheduled run
    succeeds, and the Iceberg table holds every succeeded batch exactly once."""
    url = demo.stack.dagster_url

    @retry(stop=stop_after_delay(150), wait=wait_fixed(0.2), reraise=True)
    def batch_in_progress() -> int:
        started = [r.batch_number for r in dagster_api.runs(url, limit=5) if r.status == "STARTED"]
        assert started, "no scheduled batch in progress yet"
        assert started[0] is not None
        return started[0]

    interrupted = batch_in_progress()
    demo.stack.compose().compose.restart(["postgres"])
    restarted = time.time()

    @retry(stop=stop_after_delay(240), wait=wait_fixed(2), reraise=True)
    def batch_landed_and_schedule_runs_on() -> list[dagster_api.RunSummary]:
        runs = dagster_api.runs(url, limit=100)
        succeeded = [r for r in runs if r.status == "SUCCESS"]
        assert any(r.batch_number == interrupted for r in succeeded), (
            f"batch {interrupted} has no successful run: "
            f"{[(r.status, r.batch_number) for r in runs[:6]]}"
        )
        assert any((r.start_time or 0) > restarted for r in succeeded), "no run since the restart"
        return runs

    runs = batch_landed_and_schedule_runs_on()
    loader = demo.loader()
    loaded = loader.loaded_batches()
    artifacts = demo.stack.artifacts("host")
    seed, size = artifacts.demo.seed, artifacts.demo.batch_size
    succeeded = {r.batch_number for r in runs if r.status == "SUCCESS" and r.batch_number}
    assert {batch_id(seed, number) for number in succeeded} <= loaded
    assert batch_id(seed, interrupted) in loaded
    snapshots = [s for s in loader.catalog.load_table(loader.identifier).snapshots() if s.summary]
    assert len(snapshots) == len(loaded), "a batch was appended twice"
    assert loader.read().num_rows == size * len(loaded)


SERVICE_LABEL = "com.docker.compose.service"


@contextmanager
def cpu_burner_until_healthy(docker: DockerClient, project: str) -> Iterator[set[str]]:
    """A process keeping a core busy while `project`'s services come up: it is stopped when the
    engine has reported every default service healthy (its health_status events), or when the
    block ends. Yields the services seen healthy under it."""
    since = datetime.now(UTC)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    healthy: set[str] = set()

    def watch() -> None:
        events = docker.system.events(
            since=since,
            until=since + timedelta(minutes=15),
            filters={"type": "container", "event": "health_status",
                     "label": f"{PROJECT_LABEL}={project}"},
        )  # fmt: skip
        for event in events:
            if event.action == "health_status: healthy" and event.actor is not None:
                healthy.add(str((event.actor.attributes or {}).get(SERVICE_LABEL)))
            if healthy >= set(DEFAULT_SERVICES):
                break
        burner.kill()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield healthy
        watcher.join(timeout=60)  # the engine's last event may follow compose's own check
    finally:
        burner.kill()
        burner.wait()


@pytest.mark.requirement("007-FR-051", evidence="real")
def test_a_second_stack_comes_up_healthy_beside_the_first_and_a_cpu_burner(
    demo: Demo, docker: DockerClient, tmp_path: Path
) -> None:
    """The README's sequence in small: a demo already runs (the module's) while a second one
    starts from nothing beside a CPU burner (a core kept busy until every service has become
    healthy; the other e2e worker's tests load the rest). Every service becomes healthy by its
    cheap check, and Dagster's own checks, run in the same containers, agree."""
    env = isolated_demo_env(tmp_path, f"floe-e2e-{secrets.token_hex(3)}")
    project = env["FLOE_DEMO__PROJECT"]
    try:
        with cpu_burner_until_healthy(docker, project) as healthy_under_load:
            report = up_json(env)
        assert healthy_under_load == set(DEFAULT_SERVICES), "the burner stopped before they were"
        assert report["cube_orders"] > 0
        assert status_json(env)["healthy"] is True
        assert status_json(demo.env)["healthy"] is True
        for service, dagsters_check in {
            "daemon": ["dagster-daemon", "liveness-check"],
            "code-location": ["dagster", "api", "grpc-health-check", "-p", "4000"],
        }.items():
            docker.execute(f"{project}-{service}-1", dagsters_check)
    finally:
        run_task("demo.down", "--volumes", env=env)
    assert project_objects(docker, project) == ([], [], [])


@pytest.mark.requirement("007-FR-031", evidence="real")
def test_down_keeps_data_and_up_brings_it_back(demo: Demo, docker: DockerClient) -> None:
    before = demo.cube_orders()
    done = run_task("demo.down", env=demo.env)
    assert done.returncode == 0, done.stderr
    containers, networks, volumes = project_objects(docker, demo.stack.project)
    assert containers == []
    assert networks == []
    assert len(volumes) == 2
    up_json(demo.env)
    assert demo.cube_orders() >= before


@pytest.mark.requirement("007-FR-033", evidence="real")
def test_a_taken_port_fails_before_anything_starts(docker: DockerClient, tmp_path: Path) -> None:
    env = isolated_demo_env(tmp_path, f"floe-e2e-{secrets.token_hex(3)}")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(env["FLOE_DEMO__PORTS__CUBE"])))
        holder.listen()
        done = run_task("demo.up", env=env)
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    assert f"port {env['FLOE_DEMO__PORTS__CUBE']}" in message
    assert "FLOE_DEMO__PORTS__CUBE" in message
    assert project_objects(docker, env["FLOE_DEMO__PROJECT"]) == ([], [], [])


@pytest.mark.requirement("007-FR-033", evidence="real")
def test_an_unhealthy_service_is_named_with_its_check_and_logs(
    docker: DockerClient, service_image: Any
) -> None:
    """The diagnosis demo.up prints: a container of a project whose healthcheck fails."""
    project = f"floe-e2e-{secrets.token_hex(3)}"
    container = docker.run(
        service_image("postgres"),
        detach=True,
        envs={"POSTGRES_PASSWORD": "x" * 12},
        labels={PROJECT_LABEL: project, "com.docker.compose.service": "postgres"} | run_labels(),
        health_cmd="echo probe-says-no && false",
        health_interval=timedelta(seconds=1),
        health_retries=1,
    )
    try:

        @retry(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True)
        def diagnosed() -> Any:
            problems = unhealthy_services(docker, project)
            assert problems
            assert "unhealthy" in problems[0].state
            assert "database system is ready" in problems[0].logs
            return problems[0]

        problem = diagnosed()
        assert problem.service == "postgres"
        assert problem.healthcheck_output
        assert "probe-says-no" in problem.healthcheck_output
        assert len(problem.logs.splitlines()) <= 30
    finally:
        docker.container.remove(container, force=True)


@pytest.mark.requirement("007-FR-033", evidence="real")
def test_demo_up_names_a_service_that_never_gets_healthy(
    docker: DockerClient, service_image: Any, tmp_path: Path
) -> None:
    """demo.up's own output when Postgres cannot start: its data volume holds the files of another
    PostgreSQL version (planted), so it restarts until demo.up stops waiting."""
    project = f"floe-e2e-{secrets.token_hex(3)}"
    env = isolated_demo_env(tmp_path, project) | {"FLOE_DEMO__HEALTHY_TIMEOUT_S": "30"}
    volume = f"{project}_postgres-data"
    docker.run(
        service_image("postgres"),
        ["-c", "cd /var/lib/postgresql/data && echo 99 > PG_VERSION && touch postgresql.conf"],
        entrypoint="sh",
        volumes=[(volume, "/var/lib/postgresql/data")],
        labels=run_labels(),
        remove=True,
    )
    try:
        done = run_task("demo.up", env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        error = next(line for line in done.stderr.splitlines() if line.startswith("ERROR: "))
        assert error.startswith("ERROR: service postgres did not become healthy (")
        assert "Remediation: the postgres-data volume holds another PostgreSQL version's" in error
        assert "--- postgres:" in done.stderr
        assert "database files are incompatible with server" in done.stderr
        assert "code-location" not in error, "a service waiting on postgres was named as failing"
    finally:
        run_task("demo.down", "--volumes", env=env)
        if docker.volume.exists(volume):
            docker.volume.remove(volume)


@pytest.mark.requirement("007-FR-031", evidence="real")
def test_down_volumes_removes_everything(demo: Demo, docker: DockerClient) -> None:
    """Last in the module: takes the module's stack down with its volumes."""
    done = run_task("demo.down", "--volumes", env=demo.env)
    assert done.returncode == 0, done.stderr
    assert project_objects(docker, demo.stack.project) == ([], [], [])
