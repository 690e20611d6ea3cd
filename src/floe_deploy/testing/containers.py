"""pytest plugin: ephemeral services for the e2e tests, through testcontainers.

Every container carries the project's labels and this run's id; the run removes them at the end,
even when interrupted (SIGINT or SIGTERM), and the next run reaps what a killed run left behind.
Ryuk, testcontainers' own reaper, can't run here (its image can't be pulled).
"""

from __future__ import annotations

import os

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

import contextlib
import secrets
import signal
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import psycopg
import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from floe_deploy.console import Console
from floe_deploy.images.build import host_platform
from floe_deploy.images.services import service_images
from floe_deploy.settings import Settings, load_settings
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.registries import PrivateRegistry, registry_files, wait_until_serving

RUN_LABEL = "org.floe-deploy.test-run"
PID_LABEL = "org.floe-deploy.test-pid"
PROJECT_LABEL = "org.floe-deploy.project"
RUN_ID = os.environ.get("FLOE_TEST_RUN_ID") or uuid.uuid4().hex[:12]
"""Set FLOE_TEST_RUN_ID to know a run's label from outside (the interrupt test does)."""
LOG_LINES = 30

_containers_by_fixture: dict[str, list[DockerContainer]] = {}


def run_labels() -> dict[str, str]:
    return {PROJECT_LABEL: "floe-deploy", RUN_LABEL: RUN_ID, PID_LABEL: str(os.getpid())}


def remove_containers(client: DockerClient, run_id: str | None = None) -> list[str]:
    """Remove this run's containers, or (run_id None) those of test runs whose process is gone."""
    removed = []
    for container in client.container.list(all=True, filters=[("label", RUN_LABEL)]):
        labels = container.config.labels or {}
        owner = labels.get(PID_LABEL, "")
        orphan = run_id is None and not (owner.isdigit() and os.path.exists(f"/proc/{owner}"))
        if labels.get(RUN_LABEL) == run_id or orphan:
            name = container.name
            try:
                client.container.remove(container, force=True, volumes=True)
            except DockerException:
                continue
            removed.append(name)
    return removed


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


def pytest_sessionstart(session: pytest.Session) -> None:
    with contextlib.suppress(DockerException):
        remove_containers(DockerClient(), run_id=None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Runs after an interrupted run too: what this run started is removed here at the latest."""
    with contextlib.suppress(DockerException):
        remove_containers(DockerClient(), run_id=RUN_ID)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for fixture in getattr(item, "fixturenames", []):
            for container in _containers_by_fixture.get(fixture, []):
                try:
                    out, err = container.get_logs()
                except Exception as error:  # a gone container must not hide the failure
                    text = f"(no logs: {error})"
                else:
                    text = "\n".join((out + err).decode(errors="replace").splitlines()[-LOG_LINES:])
                report.sections.append(
                    (f"last {LOG_LINES} log lines of {container.image} ({fixture})", text)
                )
    return report


def start(container: DockerContainer, fixture: str) -> DockerContainer:
    """Start with the run's labels, and remember it so a failing test can show its logs."""
    container.with_kwargs(labels=run_labels())
    _containers_by_fixture.setdefault(fixture, []).append(container)
    return container.start()


@pytest.fixture(scope="session")
def floe_settings() -> Settings:
    """The toolkit's settings, narrowed to the host platform: tests run images natively."""
    return load_settings(platforms=host_platform())


@pytest.fixture(scope="session")
def service_image(floe_settings: Settings) -> Callable[[str], str]:
    """Image reference for a service: upstream, or built once per session by images.build."""
    resolved: dict[str, str] = {}

    def reference(name: str) -> str:
        if name not in resolved:
            resolved.update(service_images(floe_settings, [name], Console()))
        return resolved[name]

    return reference


@pytest.fixture(scope="session")
def postgres(service_image: Callable[[str], str]) -> Iterator[PostgresEndpoint]:
    """A Postgres server for the session; ready when psql answers inside the container."""
    password = secrets.token_hex(12)
    container = PostgresContainer(
        service_image("postgres"), username="floe", password=password, dbname="floe"
    )
    start(container, "postgres")
    try:
        yield PostgresEndpoint(
            host="127.0.0.1",
            port=int(container.get_exposed_port(5432)),
            user="floe",
            password=password,
            database="floe",
        )
    finally:
        container.stop()


@pytest.fixture
def postgres_database(postgres: PostgresEndpoint) -> Iterator[str]:
    """A fresh database per test (the server is shared); its DSN."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.dsn(name)
    finally:
        with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@retry(
    stop=stop_after_delay(60),
    wait=wait_fixed(0.2),
    retry=retry_if_exception_type(Exception),
    reraise=True,
)
def _wait_for_s3(service: S3Endpoint) -> None:
    service.client().list_buckets()


@pytest.fixture(scope="session")
def s3(service_image: Callable[[str], str]) -> Iterator[S3Endpoint]:
    """An S3-compatible server for the session; ready when an authenticated ListBuckets succeeds."""
    access_key, secret_key = "floe-test", secrets.token_hex(16)
    container = (
        DockerContainer(service_image("s3"))
        .with_env("MINIO_ROOT_USER", access_key)
        .with_env("MINIO_ROOT_PASSWORD", secret_key)
        .with_command("server /data")
        .with_exposed_ports(9000)
    )
    start(container, "s3")
    try:
        service = S3Endpoint(
            f"http://127.0.0.1:{container.get_exposed_port(9000)}", access_key, secret_key
        )
        _wait_for_s3(service)
        yield service
    finally:
        container.stop()


@pytest.fixture
def s3_bucket(s3: S3Endpoint) -> Iterator[str]:
    """A fresh bucket per test, emptied and deleted after it."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


@contextmanager
def running_registry(image: str, fixture: str) -> Iterator[str]:
    """An empty OCI registry container, ready when /v2/ answers 200; its `127.0.0.1:PORT`."""
    container = (
        DockerContainer(image)
        .with_exposed_ports(5000)
        .waiting_for(HttpWaitStrategy(5000, "/v2/").for_status_code(200))
    )
    start(container, fixture)
    try:
        yield f"127.0.0.1:{container.get_exposed_port(5000)}"
    finally:
        container.stop()


@contextmanager
def running_private_registry(
    image: str, directory: Path, fixture: str
) -> Iterator[PrivateRegistry]:
    """The registry image serving TLS (a CA made for the test) behind htpasswd logins."""
    files = registry_files(directory, secrets.token_urlsafe(12))
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    mounted = "/etc/floe-registry"
    container = (
        DockerContainer(image)
        .with_exposed_ports(5000)
        .with_volume_mapping(str(directory), mounted, "ro")
        .with_env("REGISTRY_HTTP_TLS_CERTIFICATE", f"{mounted}/{files.certificate.name}")
        .with_env("REGISTRY_HTTP_TLS_KEY", f"{mounted}/{files.key.name}")
        .with_env("REGISTRY_AUTH", "htpasswd")
        .with_env("REGISTRY_AUTH_HTPASSWD_REALM", "floe-test")
        .with_env("REGISTRY_AUTH_HTPASSWD_PATH", f"{mounted}/{files.htpasswd.name}")
    )
    start(container, fixture)
    try:
        address = f"127.0.0.1:{container.get_exposed_port(5000)}"
        wait_until_serving(address, files.ca_file)
        yield PrivateRegistry(address=address, files=files)
    finally:
        container.stop()


@pytest.fixture
def registry(service_image: Callable[[str], str]) -> Iterator[str]:
    """A throwaway, empty OCI registry per test."""
    with running_registry(service_image("registry"), "registry") as address:
        yield address


@pytest.fixture
def floe_container() -> Iterator[Callable[[DockerContainer], DockerContainer]]:
    """Start any container (a floe image under test) with the run's labels; removed after the test."""
    started: list[DockerContainer] = []

    def launch(container: DockerContainer) -> DockerContainer:
        started.append(start(container, "floe_container"))
        return container

    yield launch
    for container in started:
        container.stop()
