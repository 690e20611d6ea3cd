"""The preflight hook checks the marts database with the serving sslmode the prod render gives
it: floe-preflight with the `preflight` container's sslmode and CA setting against a real
PostgreSQL that accepts only TLS (pg_hba `hostssl`), its certificate from a throwaway CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_deploy.helm import pss
from floe_deploy.helm.ca_bundle import CA_VARIABLES
from floe_deploy.testing import PostgresEndpoint
from floe_deploy.testing.local_services import postgres_cluster
from floe_deploy.tls import ServerTls, server_tls
from tests.helm.conftest import Renderer, find
from tests.helm.test_private_ca_clients import mounted_env
from tests.preflight.conftest import pg_env, results

pytestmark = pytest.mark.requirement("007-FR-060", evidence="real")


@pytest.fixture(scope="module")
def tls() -> ServerTls:
    return server_tls("floe-private-ca", ["127.0.0.1"])


@pytest.fixture(scope="module")
def tls_postgres(tls: ServerTls) -> Iterator[PostgresEndpoint]:
    with postgres_cluster(tls=tls, hba="hostssl all all 127.0.0.1/32 scram-sha-256") as server:
        yield server


def test_the_preflight_hook_verifies_the_marts_database_with_the_serving_sslmode(
    rendered: Renderer,
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = rendered("values-prod.yaml")
    (job,) = find(objects, "Job", "-preflight")
    pod = pss.pod_spec(job.document)
    assert pod is not None
    (container,) = [c for c in pod["containers"] if c["name"] == "preflight"]
    sslmode = {e["name"]: e.get("value") for e in container["env"]}["FLOE_POSTGRES__SSLMODE"]
    assert sslmode == "verify-full"
    ca = mounted_env(objects, pod, container, tmp_path, tls.ca)["FLOE_CA_BUNDLE"]
    for name in (*CA_VARIABLES, "FLOE_CA_BUNDLE", "PGSSLMODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    marts = pg_env(tls_postgres, FLOE_POSTGRES__SSLMODE=sslmode)
    code, found = results(marts | {"FLOE_CA_BUNDLE": ca}, "--check", "postgres")
    assert (code, found["postgres"]["status"]) == (0, "ok"), found
    code, found = results(marts, "--check", "postgres")
    assert code != 0
    refused = found["postgres"]
    assert (refused["kind"], refused["setting"]) == ("tls", "FLOE_POSTGRES__SSLROOTCERT"), refused
