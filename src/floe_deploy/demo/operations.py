"""demo.up / down / status / trigger: the compose stack driven end to end, each step timed.

up = platform preflight → ports free → images → config → `compose up --wait` → bucket →
service preflight → first batch (only when no run exists) → rows in Cube. Every step is safe
to repeat, so a second `up` on a healthy stack changes nothing, and an `up` after a crash or
Ctrl-C repairs what is missing.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, SecretStr
from python_on_whales.exceptions import DockerException
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from floe_demo.cube import CubeClient, CubeError
from floe_deploy import dagster_api
from floe_deploy.console import Console
from floe_deploy.demo.diagnosis import ServiceState, service_states, unhealthy_services
from floe_deploy.demo.stack import (
    DATABASE,
    DEFAULT_SERVICES,
    OPTIONAL_PROFILES,
    USER,
    WAREHOUSE_BUCKET,
    DemoStack,
    StackImages,
)
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.source import ResolvedSource, banner
from floe_deploy.settings import Settings

FIRST_ROWS_TIMEOUT_S = 180
DAGSTER_SERVICES = ["code-location", "webserver", "daemon"]
IMAGES = ["postgres", "s3", "cube", "dagster"]


class StepTiming(BaseModel):
    step: str
    seconds: float


class UpReport(BaseModel):
    project: str
    image_source: ResolvedSource
    changed: bool
    first_run: str | None
    cube_orders: int
    urls: dict[str, str]
    steps: list[StepTiming]


class Steps:
    """Timed steps: a progress line each, and the summary `demo.up` prints at the end."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: list[StepTiming] = []

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        timed = None
        try:
            with self.console.step(title) as timed:
                yield
        finally:
            if timed is not None:
                self.timings.append(StepTiming(step=title, seconds=timed.seconds))


def check_profiles(profiles: list[str], source: ResolvedSource | None = None) -> None:
    unknown = [profile for profile in profiles if profile not in OPTIONAL_PROFILES]
    if unknown:
        raise FloeError(
            f"unknown profile {unknown[0]!r}", f"choose from {', '.join(OPTIONAL_PROFILES)}"
        )
    if profiles and source is ResolvedSource.HERMETIC:
        raise FloeError(
            f"profile {profiles[0]} needs upstream images, and no registry is reachable here",
            "drop --profile, or set FLOE_IMAGE_SOURCE=upstream (or FLOE_MIRROR) on a connected machine",
        )


def check_platform(settings: Settings) -> None:
    """floe-preflight's `platform` check: engine, compose v2, memory, disk."""
    from floe_preflight.config import PlatformSettings, PreflightSettings  # noqa: PLC0415
    from floe_preflight.model import Status  # noqa: PLC0415
    from floe_preflight.runner import run_preflight  # noqa: PLC0415

    platform = PlatformSettings(
        min_memory_gb=settings.min_free_memory_gb, min_disk_gb=settings.min_free_disk_gb
    )
    if settings.docker_host and settings.docker_host.startswith("unix://"):
        platform.docker_socket = settings.docker_host.removeprefix("unix://")
    result = run_preflight(PreflightSettings(platform=platform), ["platform"]).results[0]
    if result.status is not Status.OK:
        raise FloeError(result.message, result.remediation or "run `invoke platform.up`")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(stack: DemoStack, profiles: list[str], running: list[ServiceState]) -> None:
    """Every host port is free, or already published by this very stack."""
    ours = {int(binding.split("->")[0].rsplit(":", 1)[1]) for s in running for binding in s.ports}
    for service, port in stack.host_ports(profiles).items():
        if port not in ours and not _port_free(port):
            variable = {
                "webserver": "DAGSTER",
                "s3 console": "S3_CONSOLE",
                "otel-collector": "OTLP",
            }.get(service, service.upper())
            raise FloeError(
                f"port {port} on 127.0.0.1 (for {service}) is already in use; nothing was started",
                f"stop what holds it (`ss -ltnp 'sport = :{port}'`) or choose another port with "
                f"FLOE_DEMO__PORTS__{variable}=<port>",
            )


def _images(stack: DemoStack, console: Console, build: bool) -> StackImages:
    """The images of the last `up` when they are all still present, else resolve and build/pull."""
    from floe_deploy.images.services import stack_images  # noqa: PLC0415

    recorded = stack.recorded_images()
    if recorded is not None and not build:
        client = stack.compose()
        if all(client.image.exists(reference) for reference in recorded.references.values()):
            console.line(banner(recorded.source, stack.settings) + " (as at the last up)")
            return recorded
    source, references = stack_images(stack.settings, IMAGES, console, rebuild=build)
    return StackImages(source=source, references=references)


def _compose_up(stack: DemoStack, profiles: list[str], restart_dagster: bool) -> None:
    client = stack.compose(profiles)
    timeout = stack.settings.demo.healthy_timeout_s
    try:
        client.compose.up(detach=True, wait=True, wait_timeout=timeout, quiet=True)
        if restart_dagster:
            client.compose.restart(DAGSTER_SERVICES)
            client.compose.up(detach=True, wait=True, wait_timeout=timeout, quiet=True)
    except DockerException as error:
        raise _unhealthy_error(stack, profiles, error) from None


def _unhealthy_error(stack: DemoStack, profiles: list[str], error: DockerException) -> FloeError:
    problems = unhealthy_services(stack.compose(), stack.project)
    if not problems:
        output = (error.stderr or error.stdout or "").strip()
        return FloeError(
            f"docker compose up failed: {output.splitlines()[-1] if output else error}",
            "read the output above; `invoke demo.up` retries what is missing",
            exit_code=ExitCode.FAILURE,
            details=output[-4000:],
        )
    first = problems[0]
    details = "\n\n".join(
        f"--- {p.service}: {p.state}\n"
        + (f"healthcheck: {p.healthcheck_output}\n" if p.healthcheck_output else "")
        + f"last log lines:\n{p.logs.rstrip()}"
        for p in problems
    )
    names = ", ".join(p.service for p in problems)
    return FloeError(
        f"service {names} did not become healthy ({first.state})",
        first.remediation,
        exit_code=ExitCode.FAILURE,
        details=details,
    )


def ensure_bucket(stack: DemoStack) -> None:
    """The warehouse bucket exists (the MinIO image creates none by itself)."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    made = stack.credentials()
    client = boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        aws_access_key_id=made.s3_access_key,
        aws_secret_access_key=made.s3_secret_key.get_secret_value(),
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
        ),
    )
    try:
        client.head_bucket(Bucket=WAREHOUSE_BUCKET)
    except ClientError:
        client.create_bucket(Bucket=WAREHOUSE_BUCKET)


def check_services(stack: DemoStack) -> None:
    """floe-preflight's service checks against the running stack, from this host."""
    from floe_preflight.config import (  # noqa: PLC0415
        CatalogSettings,
        PostgresSettings,
        PreflightSettings,
        StorageSettings,
    )
    from floe_preflight.model import Status  # noqa: PLC0415
    from floe_preflight.runner import run_preflight  # noqa: PLC0415

    made = stack.credentials()
    postgres = PostgresSettings(
        host="127.0.0.1", port=stack.ports.postgres, database=DATABASE, user=USER,
        password=made.postgres_password,
    )  # fmt: skip
    settings = PreflightSettings(
        storage=StorageSettings(
            endpoint=stack.s3_url, bucket=WAREHOUSE_BUCKET, access_key_id=made.s3_access_key,
            secret_access_key=made.s3_secret_key,
        ),
        catalog=CatalogSettings(
            type="sql", uri=f"postgresql://{USER}@127.0.0.1:{stack.ports.postgres}/{DATABASE}",
            password=made.postgres_password,
        ),
        postgres=postgres,
    )  # fmt: skip
    report = run_preflight(settings, ["compute", "storage", "catalog", "postgres"])
    failed = [result for result in report.results if result.status is Status.ERROR]
    if failed:
        raise FloeError(
            f"[{failed[0].service}] {failed[0].message}",
            failed[0].remediation or "`invoke demo.status` shows the services",
            exit_code=ExitCode.FAILURE,
        )


def first_batch(stack: DemoStack, up_started: float) -> str | None:
    """The run that landed the first batch during this `up`: None when one had succeeded before.

    On a fast schedule the scheduler may land the first batch before this step asks; that run is
    the first run, not a reason to report none.
    """
    try:
        recent = dagster_api.runs(stack.dagster_url, limit=20)
        succeeded = [run for run in recent if run.status == "SUCCESS"]
        if any((run.start_time or 0.0) < up_started for run in succeeded):
            return None
        if succeeded:
            return min(succeeded, key=lambda run: run.start_time or 0.0).run_id
        ongoing = [run for run in recent if run.status not in dagster_api.FINISHED]
        run_id = ongoing[0].run_id if ongoing else dagster_api.submit_batch(stack.dagster_url)[0]
    except dagster_api.DagsterApiError as error:
        raise FloeError(str(error), "`invoke demo.logs -s webserver` shows why") from None
    status = dagster_api.wait_for_run(stack.dagster_url, run_id, timeout=FIRST_ROWS_TIMEOUT_S)
    if status != "SUCCESS":
        raise FloeError(
            f"the first demo run {run_id} ended {status}",
            f"open {stack.dagster_url}/runs/{run_id} or run `invoke demo.logs -s code-location`",
            exit_code=ExitCode.FAILURE,
        )
    return run_id


def cube_client(stack: DemoStack, timeout: float = 30.0) -> CubeClient:
    secret: SecretStr = stack.credentials(create=False).cube_api_secret
    return CubeClient(stack.cube_url, secret.get_secret_value(), timeout=timeout)


def wait_for_cube_rows(stack: DemoStack) -> int:
    @retry(
        stop=stop_after_delay(FIRST_ROWS_TIMEOUT_S),
        wait=wait_fixed(1),
        retry=retry_if_exception_type((CubeError, AssertionError, OSError)),
        reraise=True,
    )
    def rows() -> int:
        count = cube_client(stack, timeout=10).order_count()
        assert count > 0
        return count

    try:
        return rows()
    except (CubeError, AssertionError, OSError) as error:
        raise FloeError(
            f"Cube answered no orders within {FIRST_ROWS_TIMEOUT_S} s ({error or 'no rows'})",
            "`invoke demo.status` shows where the rows stop; `invoke demo.logs -s cube`",
            exit_code=ExitCode.FAILURE,
        ) from None


def urls(stack: DemoStack, source: ResolvedSource, profiles: list[str]) -> dict[str, str]:
    found = {
        "Dashboard": stack.dashboard_url,
        "Dagster UI": stack.dagster_url,
        "Cube API": f"{stack.cube_url}/cubejs-api/v1",
        "S3 API": stack.s3_url,
        "Postgres": f"postgresql://{USER}@127.0.0.1:{stack.ports.postgres}/{DATABASE}",
    }
    if source is ResolvedSource.UPSTREAM:
        found["S3 console"] = f"http://127.0.0.1:{stack.ports.s3_console}"
    ports = stack.host_ports(profiles)
    for service, label in (("trino", "Trino"), ("polaris", "Polaris"), ("marquez", "Marquez")):
        if service in ports:
            found[label] = f"http://127.0.0.1:{ports[service]}"
    return found


def expected_services(profiles: list[str]) -> set[str]:
    return set(DEFAULT_SERVICES).union(*(OPTIONAL_PROFILES[profile] for profile in profiles))


def _all_healthy(states: list[ServiceState], expected: set[str]) -> bool:
    running = {s.service for s in states if s.state == "running" and s.health in (None, "healthy")}
    return expected <= running and len(states) == len(running)


def _fingerprint(states: list[ServiceState]) -> set[tuple[str, str]]:
    return {(state.id, state.state) for state in states}


def up(
    settings: Settings,
    console: Console,
    *,
    build: bool = False,
    profiles: list[str] | None = None,
    batch_size: int | None = None,
    interval: str | None = None,
) -> UpReport:
    up_started = time.time()
    chosen = list(dict.fromkeys(profiles or []))
    check_profiles(chosen)
    stack = DemoStack(settings)
    steps = Steps(console)
    with steps.step("platform preflight (engine, compose, memory, disk)"):
        check_platform(settings)
    before = service_states(stack.compose(), stack.project)
    with steps.step("host ports free"):
        check_ports(stack, chosen, before)
    with steps.step("images"):
        images = _images(stack, console, build)
        check_profiles(chosen, images.source)
    with steps.step("configuration (CompiledArtifacts, credentials)"):
        demo = stack.demo_config(batch_size, interval)
        artifacts_changed = stack.write_artifacts(demo)
        stack.write_environment(images)
    running_before = any(state.state == "running" for state in before)
    fingerprint = stack.fingerprint(chosen)
    settled = (
        stack.fingerprint_file.exists()
        and stack.fingerprint_file.read_text() == fingerprint
        and _all_healthy(before, expected_services(chosen))
    )
    if settled:
        with steps.step("services already up and healthy"):
            pass
    else:
        stack.fingerprint_file.unlink(missing_ok=True)
        with steps.step("compose up --wait (all services healthy)"):
            _compose_up(stack, chosen, restart_dagster=artifacts_changed and running_before)
        stack.fingerprint_file.write_text(fingerprint)
    after = service_states(stack.compose(), stack.project)
    with steps.step("warehouse bucket"):
        ensure_bucket(stack)
    with steps.step("service preflight (compute, storage, catalog, postgres)"):
        check_services(stack)
    with steps.step("first demo batch"):
        run_id = first_batch(stack, up_started)
    with steps.step("rows in Cube"):
        orders = wait_for_cube_rows(stack)
    return UpReport(
        project=stack.project,
        image_source=images.source,
        changed=artifacts_changed or _fingerprint(before) != _fingerprint(after),
        first_run=run_id,
        cube_orders=orders,
        urls=urls(stack, images.source, chosen),
        steps=steps.timings,
    )


class DownReport(BaseModel):
    project: str
    removed_containers: list[str]
    volumes_removed: bool


def down(settings: Settings, *, volumes: bool = False) -> DownReport:
    stack = DemoStack(settings)
    client = stack.compose(list(OPTIONAL_PROFILES))
    existing = [state.container for state in service_states(client, stack.project)]
    if stack.env_file.exists() or existing:
        try:
            client.compose.down(remove_orphans=True, volumes=volumes, quiet=True)
        except DockerException as error:
            raise FloeError(
                "docker compose down failed",
                "is the engine running? `invoke platform.status`",
                details=(error.stderr or "")[-2000:],
            ) from None
    return DownReport(project=stack.project, removed_containers=existing, volumes_removed=volumes)


class RowCounts(BaseModel):
    iceberg: int | None = None
    mart_orders: int | None = None
    cube_orders: int | None = None
    problems: list[str] = []


class StatusReport(BaseModel):
    project: str
    services: list[ServiceState]
    healthy: bool
    last_run: dagster_api.RunSummary | None
    rows: RowCounts
    urls: dict[str, str]


def count_rows(stack: DemoStack) -> RowCounts:
    """Orders in the Iceberg table, the mart and Cube; a part that can't answer says why."""
    counts = RowCounts()
    try:
        from floe_demo.loader import IcebergLoader  # noqa: PLC0415 (pyiceberg is slow to import)

        artifacts = stack.artifacts("host")
        table = IcebergLoader.from_artifacts(artifacts, stack.secrets()).read()
        counts.iceberg = table.num_rows
    except Exception as error:  # any failure is reported, not raised: status must always answer
        counts.problems.append(f"iceberg: {error}")
    try:
        import psycopg  # noqa: PLC0415

        made = stack.credentials(create=False)
        with psycopg.connect(
            host="127.0.0.1", port=stack.ports.postgres, dbname=DATABASE, user=USER,
            password=made.postgres_password.get_secret_value(), connect_timeout=5,
        ) as connection:  # fmt: skip
            row = connection.execute(
                "SELECT coalesce(sum(order_count), 0) FROM marts.orders_daily"
            ).fetchone()
            counts.mart_orders = int(row[0]) if row else 0
    except Exception as error:
        counts.problems.append(f"mart: {str(error).strip()}")
    try:
        counts.cube_orders = cube_client(stack, timeout=10).order_count()
    except Exception as error:
        counts.problems.append(f"cube: {error}")
    return counts


def status(settings: Settings) -> StatusReport:
    stack = DemoStack(settings)
    services = service_states(stack.compose(), stack.project)
    healthy = _all_healthy(services, set(DEFAULT_SERVICES))
    last_run = None
    rows = RowCounts()
    if any(s.service == "webserver" and s.state == "running" for s in services):
        try:
            recent = dagster_api.runs(stack.dagster_url, limit=1)
            last_run = recent[0] if recent else None
        except dagster_api.DagsterApiError as error:
            rows.problems.append(f"dagster: {error}")
    if services and stack.credentials_file.exists():
        counted = count_rows(stack)
        rows = counted.model_copy(update={"problems": rows.problems + counted.problems})
    source = stack.recorded_images()
    return StatusReport(
        project=stack.project,
        services=services,
        healthy=healthy,
        last_run=last_run,
        rows=rows,
        urls=urls(stack, source.source if source else ResolvedSource.HERMETIC, []),
    )


def trigger(settings: Settings, *, wait: bool = True) -> dagster_api.RunSummary:
    """One batch now; with `wait`, until the run ends."""
    stack = DemoStack(settings)
    try:
        run_id, number = dagster_api.submit_batch(stack.dagster_url)
    except dagster_api.DagsterApiError as error:
        raise FloeError(str(error), "is the demo up? `invoke demo.status`") from None
    status_now = dagster_api.wait_for_run(stack.dagster_url, run_id) if wait else "QUEUED"
    if status_now not in {"SUCCESS", "QUEUED"}:
        raise FloeError(
            f"demo run {run_id} ended {status_now}",
            f"open {stack.dagster_url}/runs/{run_id} or run `invoke demo.logs -s code-location`",
            exit_code=ExitCode.FAILURE,
        )
    return dagster_api.RunSummary(run_id=run_id, status=status_now, batch_number=number)
