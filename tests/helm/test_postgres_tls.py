"""Postgres TLS reaches every Postgres client the chart configures: the sslmode of
`artifacts.serving.postgres` and `artifacts.catalog.postgres` in the CompiledArtifacts the code
location reads, in Cube's SSL variables and in the preflight hook's settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from floe_demo.config import CompiledArtifacts
from floe_deploy.errors import FloeError
from floe_deploy.helm import pss
from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chosen_values
from floe_deploy.helm.validate import postgres_tls_warnings
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-060", evidence="plumbing")

CUBE_SSL = ("CUBEJS_DB_SSL", "CUBEJS_DB_SSL_REJECT_UNAUTHORIZED")
CUBE_SSL_BY_MODE = {
    "disable": {},
    "allow": {},
    "prefer": {},
    "require": {"CUBEJS_DB_SSL": "true", "CUBEJS_DB_SSL_REJECT_UNAUTHORIZED": "false"},
    "verify-ca": {"CUBEJS_DB_SSL": "true", "CUBEJS_DB_SSL_REJECT_UNAUTHORIZED": "true"},
    "verify-full": {"CUBEJS_DB_SSL": "true", "CUBEJS_DB_SSL_REJECT_UNAUTHORIZED": "true"},
}
"""Cube's Postgres driver (BaseDriver.getSslOptions): CUBEJS_DB_SSL turns TLS on,
CUBEJS_DB_SSL_REJECT_UNAUTHORIZED (default false) makes Node verify the chain and host name."""


def postgres(sslmode: str) -> dict[str, Any]:
    return {
        "host": "pg.floe.svc",
        "port": 5432,
        "database": "floe",
        "user": "floe",
        "sslmode": sslmode,
    }


def artifacts_of(objects: list[RenderedObject]) -> CompiledArtifacts:
    (config_map,) = [o for o in find(objects, "ConfigMap") if o.name == "floe-artifacts"]
    return CompiledArtifacts.model_validate(
        json.loads(config_map.document["data"]["artifacts.json"])
    )


def container_env(
    objects: list[RenderedObject], kind: str, name: str, container: str
) -> dict[str, str]:
    (workload,) = [o for o in find(objects, kind) if o.name.endswith(name)]
    pod = pss.pod_spec(workload.document)
    assert pod is not None
    (found,) = [c for c in pod["containers"] if c["name"] == container]
    return {e["name"]: e["value"] for e in found.get("env") or [] if "value" in e}


def render_with(rendered: Renderer, serving: str, catalog: str) -> list[RenderedObject]:
    return rendered(
        artifacts={"serving": {"postgres": postgres(serving)},
                   "catalog": {"type": "sql", "postgres": postgres(catalog)}},
        cube={"enabled": True}, preflight={"enabled": True},
    )  # fmt: skip


@pytest.mark.parametrize("sslmode", list(CUBE_SSL_BY_MODE))
def test_each_sslmode_reaches_the_artifacts_cube_and_the_preflight(
    rendered: Renderer, sslmode: str
) -> None:
    objects = render_with(rendered, serving=sslmode, catalog=sslmode)
    artifacts = artifacts_of(objects)
    assert artifacts.serving.postgres.sslmode == sslmode
    assert artifacts.catalog.postgres is not None
    assert artifacts.catalog.postgres.sslmode == sslmode

    cube = container_env(objects, "Deployment", "-cube", "cube")
    assert {name: cube[name] for name in CUBE_SSL if name in cube} == CUBE_SSL_BY_MODE[sslmode]

    preflight = container_env(objects, "Job", "-preflight", "preflight")
    query = "" if sslmode == "prefer" else f"?sslmode={sslmode}"
    assert preflight["FLOE_CATALOG__URI"] == f"postgresql://floe@pg.floe.svc:5432/floe{query}"
    assert preflight.get("FLOE_POSTGRES__SSLMODE", "prefer") == sslmode


def test_serving_and_catalog_keep_their_own_sslmode(rendered: Renderer) -> None:
    """Cube serves the marts: its variables follow serving, not the catalog's database."""
    objects = render_with(rendered, serving="disable", catalog="verify-full")
    cube = container_env(objects, "Deployment", "-cube", "cube")
    assert not set(CUBE_SSL) & set(cube)
    preflight = container_env(objects, "Job", "-preflight", "preflight")
    assert preflight["FLOE_POSTGRES__SSLMODE"] == "disable"
    assert preflight["FLOE_CATALOG__URI"].endswith("?sslmode=verify-full")


def test_the_default_render_is_as_before(rendered: Renderer) -> None:
    """prefer (the default) leaves libpq's own default: no sslmode for the preflight, no SSL
    variables for Cube; the artifacts say prefer, which the demo passes on as nothing."""
    objects = rendered(cube={"enabled": True}, preflight={"enabled": True})
    artifacts = artifacts_of(objects)
    assert artifacts.serving.postgres.sslmode == "prefer"
    assert artifacts.catalog.postgres is not None
    assert artifacts.catalog.postgres.tls_parameters() == {}
    assert not set(CUBE_SSL) & set(container_env(objects, "Deployment", "-cube", "cube"))
    preflight = container_env(objects, "Job", "-preflight", "preflight")
    assert "FLOE_POSTGRES__SSLMODE" not in preflight
    assert preflight["FLOE_CATALOG__URI"] == "postgresql://floe@postgres:5432/floe"


def test_prod_verifies_every_postgres_against_the_private_ca(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", cube={"enabled": True})
    assert artifacts_of(objects).serving.postgres.sslmode == "verify-full"
    cube = container_env(objects, "Deployment", "-cube", "cube")
    assert {name: cube[name] for name in CUBE_SSL} == CUBE_SSL_BY_MODE["verify-full"]
    assert cube["NODE_EXTRA_CA_CERTS"] == "/etc/floe/ca/ca.crt"
    for container in ("preflight", "dagster-database"):
        env = container_env(objects, "Job", "-preflight", container)
        assert env["FLOE_POSTGRES__SSLMODE"] == "verify-full"
        assert env["PGSSLROOTCERT"] == "/etc/floe/ca/ca.crt"
    (instance,) = [o for o in find(objects, "ConfigMap") if o.name.endswith("-instance")]
    assert "sslmode: verify-full" in instance.document["data"]["dagster.yaml"]


def test_a_wrong_sslmode_is_refused_at_render(rendered: Renderer) -> None:
    with pytest.raises(
        FloeError, match=r"/artifacts/serving/postgres/sslmode': value must be one of"
    ):
        rendered(artifacts={"serving": {"postgres": postgres("verify")}})


def prod_merged(**overrides: Any) -> dict[str, Any]:
    return chosen_values(
        CHART_DIR / "values-prod.yaml", overrides, chart_dir=CHART_DIR, over_defaults=True
    )


def test_helm_validate_warns_of_a_postgres_not_verified_against_the_private_ca() -> None:
    assert postgres_tls_warnings(prod_merged()) == []
    weaker = prod_merged(
        artifacts={"serving": {"postgres": postgres("require")}},
        dagster={"postgresql": {"postgresqlParams": {"sslmode": "verify-ca"}}},
    )
    assert [w.split(" is ")[0] for w in postgres_tls_warnings(weaker)] == [
        "dagster.postgresql.postgresqlParams.sslmode", "artifacts.serving.postgres.sslmode",
    ]  # fmt: skip
    assert postgres_tls_warnings(prod_merged(tls={"caBundle": None})) == []
    sql = prod_merged(artifacts={"catalog": {"type": "sql", "postgres": postgres("prefer")}})
    assert postgres_tls_warnings(sql) == [
        "artifacts.catalog.postgres.sslmode is prefer although tls.caBundle names a private CA: the "
        "server is not verified against it; set verify-full (the CA must sign the server's "
        "certificate for that host)"
    ]
