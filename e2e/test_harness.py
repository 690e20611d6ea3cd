"""The e2e harness itself: services answer their protocols, and nothing is left behind.

Runs real containers (Postgres, S3-compatible storage, a registry) through testcontainers, and
real pytest subprocesses for the failure-log and interrupt behaviour.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.containers import (
    PID_LABEL,
    PROJECT_LABEL,
    RUN_ID,
    RUN_LABEL,
    remove_containers,
)

pytestmark = pytest.mark.requirement("007-FR-041", evidence="real")


def test_postgres_answers_and_is_labelled(postgres: PostgresEndpoint, docker: DockerClient) -> None:
    with psycopg.connect(postgres.dsn()) as connection:
        version = connection.execute("SHOW server_version_num").fetchone()
    assert version is not None
    assert int(version[0]) >= 150000
    ours = docker.container.list(filters=[("label", f"{RUN_LABEL}={RUN_ID}")])
    assert ours, "the session's containers carry the run label"
    assert all((c.config.labels or {}).get(PROJECT_LABEL) == "floe-deploy" for c in ours)


def test_each_test_gets_its_own_database(
    postgres_database: str, postgres: PostgresEndpoint
) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute("CREATE TABLE private_to_this_test (id int)")
    with psycopg.connect(postgres.dsn()) as connection:
        found = connection.execute("SELECT to_regclass('private_to_this_test')").fetchone()
    assert found == (None,)


def test_s3_bucket_round_trip(s3: S3Endpoint, s3_bucket: str) -> None:
    client = s3.client()
    client.put_object(Bucket=s3_bucket, Key="warehouse/probe.txt", Body=b"floe")
    assert client.get_object(Bucket=s3_bucket, Key="warehouse/probe.txt")["Body"].read() == b"floe"


def test_s3_rejects_wrong_credentials(s3: S3Endpoint, s3_bucket: str) -> None:
    wrong = S3Endpoint(s3.endpoint, s3.access_key, "not-the-secret")
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch"):
        wrong.client().list_objects_v2(Bucket=s3_bucket)


def test_registry_is_empty_and_accepts_pushes(
    registry: str, docker: DockerClient, tmp_path: Path
) -> None:
    assert httpx.get(f"http://{registry}/v2/_catalog").json() == {"repositories": []}
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text("e2e\n")
    tag = f"{registry}/floe-test/harness:probe"
    docker.buildx.build(
        tmp_path, tags=[tag], platforms=["linux/amd64"], push=True, labels=TEST_IMAGE_LABELS
    )
    assert httpx.get(f"http://{registry}/v2/_catalog").json() == {
        "repositories": ["floe-test/harness"]
    }


def test_orphans_of_a_killed_run_are_reaped(docker: DockerClient, service_image: object) -> None:
    image = docker.image.list(filters=[("reference", "floe/registry:*")])[0]
    dead_pid = "999999999"
    orphan = docker.container.create(
        image, labels={RUN_LABEL: "killed-run", PID_LABEL: dead_pid, PROJECT_LABEL: "floe-deploy"}
    )
    live = docker.container.create(
        image, labels={RUN_LABEL: "live-run", PID_LABEL: "1", PROJECT_LABEL: "floe-deploy"}
    )
    orphan_name, live_name = orphan.name, live.name
    try:
        removed = remove_containers(docker, run_id=None)
        assert orphan_name in removed
        assert live_name not in removed
        assert not docker.container.exists(orphan_name)
    finally:
        docker.container.remove(live, force=True)


INNER_CONFTEST = 'pytest_plugins = ["floe_deploy.testing.containers"]\n'


def _default_sigint() -> None:
    """The inner run gets SIGINT's default disposition, whatever this process inherited (a
    background job of a non-interactive shell starts with SIGINT ignored, and Python keeps an
    inherited SIG_IGN instead of raising KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_inner_pytest(tmp_path: Path, test_source: str, run_id: str) -> subprocess.Popen[str]:
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(test_source)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
        ],
        cwd=tmp_path,
        env={**os.environ, "FLOE_TEST_RUN_ID": run_id},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - only a signal disposition, no threads touched
    )


def test_a_failing_test_prints_its_containers_logs(tmp_path: Path) -> None:
    inner = run_inner_pytest(
        tmp_path,
        "def test_fails(postgres):\n    assert False, 'deliberate failure'\n",
        run_id=f"logs-{uuid.uuid4().hex[:8]}",
    )
    output, _ = inner.communicate(timeout=300)
    assert inner.returncode == 1, output
    assert "deliberate failure" in output
    assert "log lines of floe/postgres" in output
    assert "database system is ready to accept connections" in output


def test_sigint_during_a_test_leaves_no_container(tmp_path: Path, docker: DockerClient) -> None:
    run_id = f"sigint-{uuid.uuid4().hex[:8]}"
    inner = run_inner_pytest(
        tmp_path,
        "import time\n\ndef test_waits(registry):\n    time.sleep(600)\n",
        run_id=run_id,
    )
    deadline = time.monotonic() + 300
    while not docker.container.list(filters=[("label", f"{RUN_LABEL}={run_id}")]):
        assert inner.poll() is None, inner.communicate()[0]
        assert time.monotonic() < deadline, "the inner run never started its container"
        time.sleep(0.2)
    inner.send_signal(signal.SIGINT)
    output, _ = inner.communicate(timeout=120)
    assert "KeyboardInterrupt" in output
    assert docker.container.list(all=True, filters=[("label", f"{RUN_LABEL}={run_id}")]) == []
