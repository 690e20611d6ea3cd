"""The smoke's Iceberg REST catalog: a protocol stand-in for Apache Polaris, which cannot run here.

What runs for real: pyiceberg 0.12's RestCatalog client (OAuth2 client credentials, config,
namespaces, tables, appends with its own commit retries), the demo's IcebergLoader on top of it,
floe-preflight's catalog check, pyiceberg's SqlCatalog on sqlite behind the server (metadata
files written by pyiceberg's FileIO into tmp_path), and TLS with a private CA the clients must be
given.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceNotEmptyError,
    NoSuchTableError,
    OAuthError,
    TableAlreadyExistsError,
)

from floe_demo.generator import ORDER_SCHEMA, EcommerceGenerator
from floe_demo.loader import BATCH_PROPERTY, IcebergLoader
from floe_deploy.helm.iceberg_rest_standin import StandinConfig, make_server
from floe_deploy.tls import server_tls
from tests.preflight.conftest import CLIENT_ID, CLIENT_SECRET, rest_env, results

pytestmark = pytest.mark.requirement("007-FR-059", evidence="stand-in")

BASE_PATH = "/api/catalog"
WAREHOUSE = "floe"
SCOPE = "PRINCIPAL_ROLE:ALL"


@dataclass(frozen=True)
class Served:
    uri: str
    ca_file: str
    catalog: SqlCatalog
    """The server's own SqlCatalog, to see what a refused request left behind."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    tls = server_tls("floe-test-catalog-ca", ["localhost", "127.0.0.1"])
    for name, pem in (("ca.crt", tls.ca), ("tls.crt", tls.cert), ("tls.key", tls.key)):
        (tmp_path / name).write_text(pem)
    server = make_server(
        StandinConfig(
            host="127.0.0.1", port=0, base_path=BASE_PATH,
            cert_file=str(tmp_path / "tls.crt"), key_file=str(tmp_path / "tls.key"),
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scopes=[SCOPE], warehouse=WAREHOUSE,
            sql_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
            warehouse_location=(tmp_path / "warehouse").as_uri(),
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Served(
        f"https://127.0.0.1:{server.server_address[1]}{BASE_PATH}",
        str(tmp_path / "ca.crt"),
        server.catalog,
    )
    server.shutdown()
    server.server_close()
    server.catalog.close()


@pytest.fixture(autouse=True)
def no_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests takes REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) over a session's own CA bundle, so
    pyiceberg's `ssl.cabundle` is ignored while either is set."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def client(served: Served, *, given_the_ca: bool = True, **properties: Any) -> Catalog:
    """pyiceberg's RestCatalog, given the private CA as its `ssl.cabundle` property or not."""
    settings: dict[str, Any] = {
        "type": "rest", "uri": served.uri, "credential": f"{CLIENT_ID}:{CLIENT_SECRET}",
        "scope": SCOPE, "warehouse": WAREHOUSE,
    }  # fmt: skip
    if given_the_ca:
        settings["ssl"] = {"cabundle": served.ca_file}
    return load_catalog("floe", **(settings | properties))


@pytest.mark.parametrize("trust", ["ssl.cabundle", "REQUESTS_CA_BUNDLE"])
def test_the_demo_loader_appends_through_it(
    served: Served, trust: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's own IcebergLoader, as a Dagster run drives it; in a pod its catalog gets no
    `ssl` property, so the CA comes from REQUESTS_CA_BUNDLE."""
    if trust == "REQUESTS_CA_BUNDLE":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.ca_file)
    catalog = client(served, given_the_ca=trust == "ssl.cabundle")
    loader = IcebergLoader(catalog, "demo", "orders")
    generator = EcommerceGenerator(batch_size=20)
    first, second = generator.generate(1), generator.generate(2)

    appended = [
        loader.append(first, "b1"), loader.append(second, "b2"), loader.append(second, "b2")
    ]  # fmt: skip

    assert [(a.appended, a.rows) for a in appended] == [(True, 20), (True, 20), (False, 0)]
    read = loader.read()
    assert sorted(read.column("order_id").to_pylist()) == sorted(
        first.column("order_id").to_pylist() + second.column("order_id").to_pylist()
    )
    snapshots = served.catalog.load_table(("demo", "orders")).snapshots()
    assert [s.summary[BATCH_PROPERTY] if s.summary else None for s in snapshots] == ["b1", "b2"]
    assert [s.snapshot_id for s in snapshots] == [a.snapshot_id for a in appended[:2]]
    log = capsys.readouterr().err
    assert f"POST {BASE_PATH}/v1/{WAREHOUSE}/namespaces/demo/tables/orders 200" in log


def test_multi_level_namespaces_and_the_table_lifecycle(served: Served) -> None:
    """Namespace levels travel joined by 0x1F in paths; exists checks are HEAD requests; errors
    come back as the exceptions pyiceberg maps from the ErrorModel."""
    catalog = client(served)
    catalog.create_namespace(("sales", "eu"))
    catalog.create_table(("sales", "eu", "orders"), schema=ORDER_SCHEMA)

    assert catalog.list_namespaces(("sales",)) == [("sales", "eu")]
    assert catalog.list_tables(("sales", "eu")) == [("sales", "eu", "orders")]
    assert catalog.table_exists(("sales", "eu", "orders"))
    with pytest.raises(TableAlreadyExistsError):
        catalog.create_table(("sales", "eu", "orders"), schema=ORDER_SCHEMA)
    with pytest.raises(NamespaceNotEmptyError):
        catalog.drop_namespace(("sales", "eu"))
    catalog.drop_table(("sales", "eu", "orders"))
    with pytest.raises(NoSuchTableError):
        catalog.load_table(("sales", "eu", "orders"))
    catalog.drop_namespace(("sales", "eu"))
    assert not catalog.namespace_exists(("sales", "eu"))
    assert served.catalog.list_namespaces() == []


def test_wrong_secret_or_scope_is_refused_and_creates_nothing(served: Served) -> None:
    with pytest.raises(OAuthError, match="invalid_client"):
        client(served, credential=f"{CLIENT_ID}:not-the-secret")
    with pytest.raises(OAuthError, match="invalid_scope"):
        client(served, scope="PRINCIPAL_ROLE:admin")
    with httpx.Client(verify=served.ca_file) as http:
        denied = http.post(
            f"{served.uri}/v1/oauth/tokens",
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                  "client_secret": CLIENT_SECRET, "scope": "PRINCIPAL_ROLE:admin"},
        )  # fmt: skip
        unauthorized = http.post(
            f"{served.uri}/v1/{WAREHOUSE}/namespaces",
            json={"namespace": ["demo"]},
            headers={"Authorization": "Bearer made-up"},
        )
    assert (denied.status_code, denied.json()["error"]) == (400, "invalid_scope")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["type"] == "NotAuthorizedException"
    assert served.catalog.list_namespaces() == []


def test_a_client_without_the_private_ca_fails_the_handshake(served: Served) -> None:
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        client(served, given_the_ca=False)
    chain: list[BaseException] = []
    failure: BaseException | None = caught.value
    while failure is not None and failure not in chain:
        chain.append(failure)
        failure = failure.__cause__ or failure.__context__
    assert any(isinstance(f, ssl.SSLCertVerificationError) for f in chain), chain


@pytest.fixture
def preflight_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the machine leaks into floe-preflight; no floe-deploy.toml in the way."""
    for name in list(os.environ):
        if name.startswith(("FLOE_", "POLARIS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("preflight_env")
def test_the_preflight_catalog_check_passes_against_it(served: Served) -> None:
    trusted = {"FLOE_CATALOG__CA_FILE": served.ca_file}

    _, passed = results(rest_env(served.uri, warehouse=WAREHOUSE) | trusted, "--check", "catalog")
    _, unknown = results(rest_env(served.uri, warehouse="nope") | trusted, "--check", "catalog")

    assert passed["catalog"]["status"] == "ok", passed
    assert passed["catalog"]["message"] == (
        f"token obtained, config returned and namespaces listed for warehouse {WAREHOUSE}"
    )
    assert unknown["catalog"]["status"] == "error"
    assert "warehouse nope is unknown to the catalog (404" in str(unknown["catalog"]["message"])


@pytest.mark.parametrize("retries", [None, "0"])
def test_concurrent_appends_never_overwrite_each_other(
    served: Served, retries: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both clients load the table, then both append: pyiceberg 0.12 refreshes and retries the
    second commit after the 409 (commit.retry.num-retries, 4 by default), or with no retries
    raises CommitFailedException; either way the first append stays."""
    properties = {"commit.retry.num-retries": retries} if retries else {}
    one, other = client(served), client(served)
    one.create_namespace("demo")
    one.create_table(("demo", "orders"), schema=ORDER_SCHEMA, properties=properties)
    first, second = one.load_table(("demo", "orders")), other.load_table(("demo", "orders"))
    generator = EcommerceGenerator(batch_size=10)

    first.append(generator.generate(1).cast(ORDER_SCHEMA))
    if retries == "0":
        with pytest.raises(CommitFailedException):
            second.append(generator.generate(2).cast(ORDER_SCHEMA))
    else:
        second.append(generator.generate(2).cast(ORDER_SCHEMA))

    final = served.catalog.load_table(("demo", "orders"))
    landed = [s.snapshot_id for s in final.snapshots()]
    first_id = first.current_snapshot().snapshot_id  # type: ignore[union-attr]
    if retries == "0":
        assert landed == [first_id]
    else:
        second_snapshot = second.current_snapshot()
        assert second_snapshot is not None
        assert landed == [first_id, second_snapshot.snapshot_id]
        assert second_snapshot.parent_snapshot_id == first_id
    assert final.scan().to_arrow().num_rows == 10 * len(landed)
    assert f"/v1/{WAREHOUSE}/namespaces/demo/tables/orders 409" in capsys.readouterr().err
    assert final.metadata.current_snapshot_id == landed[-1]
