"""The variables the chart sets really make the pods' clients trust the private CA: servers on
127.0.0.1 with a throwaway CA, clients given exactly the run pod's variables (read from the run
Job dagster-k8s builds from the prod render), the mount played by a directory holding the bundle."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import SSLError

from floe_deploy.helm import pss
from floe_deploy.helm.ca_bundle import CA_VARIABLES, container_env
from floe_deploy.helm.chart import CHART_DIR, RenderedObject, load_values
from floe_deploy.helm.run_pods import run_jobs
from floe_deploy.testing import PostgresEndpoint
from floe_deploy.testing.local_services import postgres_cluster
from floe_deploy.testing.protocol_servers import serve
from floe_deploy.tls import ServerTls, server_tls
from tests.helm.conftest import Renderer
from tests.preflight.conftest import pg_env, results

pytestmark = pytest.mark.requirement("007-FR-057", evidence="real")

LIST_BUCKETS = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>floe</ID></Owner><Buckets><Bucket>'
    b"<Name>floe-warehouse</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
    b"</Buckets></ListAllMyBucketsResult>"
)


class S3ListHandler(BaseHTTPRequestHandler):
    """Answers S3's ListBuckets for any GET (enough for every client here)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(LIST_BUCKETS)))
        self.end_headers()
        self.wfile.write(LIST_BUCKETS)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls() -> ServerTls:
    return server_tls("floe-private-ca", ["127.0.0.1"])


@pytest.fixture(scope="module")
def https(tls: ServerTls) -> Iterator[str]:
    with serve(S3ListHandler, tls=tls) as url:
        yield url


@pytest.fixture(scope="module")
def tls_postgres(tls: ServerTls) -> Iterator[PostgresEndpoint]:
    with postgres_cluster(tls=tls) as postgres:
        yield postgres


def mounted_env(
    objects: list[RenderedObject],
    pod: dict[str, Any],
    container: dict[str, Any],
    root: Path,
    ca: str,
) -> dict[str, str]:
    """The container's CA variables, their paths moved under `root`, which plays the mount."""
    maps = {o.name: o.document.get("data") or {} for o in objects if o.kind == "ConfigMap"}
    env = container_env(container, maps)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "floe-ca"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "floe-ca"]
    for item in volume["configMap"]["items"]:
        (root / item["path"]).write_text(ca)
    moved = {
        name: str(root / Path(value).relative_to(mount["mountPath"]))
        for name, value in env.items()
        if name in (*CA_VARIABLES, "FLOE_CA_BUNDLE")
    }
    assert all(Path(path).read_text() == ca for path in moved.values())
    return moved


@pytest.fixture(scope="module")
def prod_objects(rendered: Renderer) -> list[RenderedObject]:
    return rendered(**load_values(CHART_DIR / "values-prod.yaml"))


@pytest.fixture(scope="module")
def pod_env(
    prod_objects: list[RenderedObject], tls: ServerTls, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The CA variables of the run pod dagster-k8s builds from the prod render."""
    (run,) = run_jobs(prod_objects)
    (container,) = run.pod_spec["containers"]
    env = mounted_env(prod_objects, run.pod_spec, container, tmp_path_factory.mktemp("ca"), tls.ca)
    assert set(env) == set(CA_VARIABLES)
    return env


@pytest.fixture(params=["with", "without"])
def variables(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, pod_env: dict[str, str]
) -> bool:
    """The process's environment as the pod's (with) or with none of the CA variables."""
    for name in (*CA_VARIABLES, "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "with":
        for name, value in pod_env.items():
            monkeypatch.setenv(name, value)
    return bool(request.param == "with")


def test_urllib_and_httpx_follow_ssl_cert_file(variables: bool, https: str) -> None:
    if variables:
        assert urllib.request.urlopen(https, timeout=5).status == 200
        assert httpx.get(https, timeout=5).status_code == 200
        return
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(https, timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https, timeout=5)


def test_requests_follows_requests_ca_bundle(variables: bool, https: str) -> None:
    if variables:
        assert requests.get(https, timeout=5).status_code == 200
        return
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https, timeout=5)


def test_boto3_follows_aws_ca_bundle(variables: bool, https: str) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=https, region_name="us-east-1", aws_access_key_id="floe",
        aws_secret_access_key="floe", config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
    if variables:
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["floe-warehouse"]
        return
    with pytest.raises(SSLError):
        s3.list_buckets()


def test_libpq_verify_full_follows_pgsslrootcert(
    variables: bool, tls_postgres: PostgresEndpoint
) -> None:
    dsn = f"{tls_postgres.dsn()}?sslmode=verify-full&connect_timeout=5"
    if variables:
        with psycopg.connect(dsn) as connection:
            assert connection.info.pgconn.ssl_in_use
        return
    with pytest.raises(psycopg.OperationalError, match="root certificate file"):
        psycopg.connect(dsn)


def test_node_follows_node_extra_ca_certs(pod_env: dict[str, str], https: str) -> None:
    script = (
        f"require('https').get({https!r}, r => {{ console.log(r.statusCode); }})"
        ".on('error', e => { console.log(e.code); })"
    )
    for env, answer in (({"NODE_EXTRA_CA_CERTS": pod_env["NODE_EXTRA_CA_CERTS"]}, "200"),
                        ({}, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")):  # fmt: skip
        found = subprocess.run(
            ["node", "-e", script], env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert found.stdout.strip() == answer


def test_the_preflight_hook_verifies_dagsters_postgres_with_the_ca(
    prod_objects: list[RenderedObject],
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """floe-preflight's dagster-database container, with its rendered CA setting, checks a
    Postgres that requires verify-full; without the setting and variables it refuses."""
    (job,) = [o for o in prod_objects if o.kind == "Job" and o.name.endswith("-preflight")]
    pod = pss.pod_spec(job.document)
    assert pod is not None
    (container,) = [c for c in pod["containers"] if c["name"] == "dagster-database"]
    env = mounted_env(prod_objects, pod, container, tmp_path, tls.ca)
    assert set(env) == {*CA_VARIABLES, "FLOE_CA_BUNDLE"}
    for name in (*CA_VARIABLES, "FLOE_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    postgres = pg_env(tls_postgres, FLOE_POSTGRES__SSLMODE="verify-full")
    code, found = results(
        postgres | {"FLOE_CA_BUNDLE": env["FLOE_CA_BUNDLE"]}, "--check", "postgres"
    )
    assert (code, found["postgres"]["status"]) == (0, "ok"), found
    code, found = results(postgres, "--check", "postgres")
    assert code != 0
    assert found["postgres"]["status"] == "error"
