"""helm.smoke's offline path, the parts that need no pod: the pull settings it refuses, how it
reads podman's event log (lines as podman 4.3 writes them) and its errors, and the values it plays
with Postgres TLS and a REST catalog. The smoke itself runs in e2e/test_offline_install.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import CHART_DIR, chosen_values, load_values
from floe_deploy.helm.smoke_registry import (
    PodmanEvents,
    not_in_registry,
    pull_store_env,
    registry_failure,
    registry_pull,
)
from floe_deploy.helm.smoke_values import CATALOG_URI, POSTGRES, smoke_values
from floe_deploy.settings import load_settings
from floe_deploy.testing.registries import write_docker_login

pytestmark = pytest.mark.requirement("007-FR-059", evidence="plumbing")

REGISTRY = "127.0.0.1:5443"
IMAGES = dict.fromkeys(("dagster", "postgres", "busybox", "cube"), f"{REGISTRY}/site/floe/x:1")


def _event(**fields: Any) -> str:
    return json.dumps({"Time": "2026-12-07T14:16:01.26Z", "Attributes": None, **fields})


def test_events_count_pulls_and_the_images_containers_were_made_from() -> None:
    log = "\n".join([
        _event(Name="8eb2ff547ef9", Status="build", Type="image"),
        _event(ID="a3", Image="localhost/podman-pause:4.3.1-0", Name="p-infra", Status="create",
               Type="container"),
        _event(Name=f"{REGISTRY}/site/floe/dagster:1", Status="pull", Type="image"),
        _event(ID="db", Image=f"{REGISTRY}/site/floe/dagster:1", Name="p-c", Status="create",
               Type="container"),
        _event(Name=f"{REGISTRY}/site/floe/dagster:1", Status="pull", Type="image"),
    ])  # fmt: skip
    events = PodmanEvents.parse(log + '\n{"Name": "half-writ')
    assert events.pulls == [f"{REGISTRY}/site/floe/dagster:1"]
    assert events.used == {f"{REGISTRY}/site/floe/dagster:1"}
    assert events.verdict(REGISTRY, set(events.pulls)).startswith(
        "ok: 1 pulls, all from 127.0.0.1:5443"
    )


def test_a_pull_from_elsewhere_or_an_image_played_without_a_pull_fails() -> None:
    ours = {f"{REGISTRY}/a:1"}
    other = "registry.example.com/library/busybox:1.28"
    elsewhere = PodmanEvents(pulls=[f"{REGISTRY}/a:1", other], used=ours)
    assert elsewhere.verdict(REGISTRY, ours) == f"FAIL: pulled from elsewhere: {other}"
    wrong_tag = PodmanEvents(pulls=[f"{REGISTRY}/a:2"], used={f"{REGISTRY}/a:2"})
    assert wrong_tag.verdict(REGISTRY, ours) == (
        f"FAIL: pulled what the smoke does not play: {REGISTRY}/a:2"
    )
    preloaded = PodmanEvents(pulls=[f"{REGISTRY}/a:1"], used={*ours, "floe/b:1"})
    assert (
        preloaded.verdict(REGISTRY, ours) == "FAIL: played without a pull in this smoke: floe/b:1"
    )
    assert PodmanEvents(pulls=[], used=set()).verdict(REGISTRY, ours) == "FAIL: nothing was pulled"


def test_only_podmans_error_lines_about_the_registry_are_a_registry_failure() -> None:
    """`kube play` reports each pull's progress on stderr; a pod refused after a good pull is
    not the registry's fault."""
    progress = (
        f"Trying to pull {REGISTRY}/site/floe/dagster:1...\nGetting image source signatures\n"
    )
    refused_mount = progress + "Error: statfs /missing: no such file or directory\n"
    assert registry_failure(refused_mount, REGISTRY) is None
    unauthorized = progress + (
        f"Error: initializing source docker://{REGISTRY}/site/floe/dagster:1: reading manifest 1 "
        f"in {REGISTRY}/site/floe/dagster: unauthorized: authentication required\n"
    )
    assert registry_failure(unauthorized, REGISTRY) == unauthorized.splitlines()[-1]
    assert not_in_registry(unauthorized, REGISTRY, "1") is None
    unknown = (
        f"Error: initializing source docker://{REGISTRY}/site/floe/postgres:1: reading manifest 1 "
        f"in {REGISTRY}/site/floe/postgres: manifest unknown: manifest unknown"
    )
    missing = not_in_registry(unknown, REGISTRY, "1")
    assert missing is not None
    assert missing.message.startswith(f"{REGISTRY} does not hold the image podman pulled")
    assert f"invoke bundle.import ARCHIVE --to {REGISTRY}/PREFIX" in missing.remediation


def test_pulling_needs_a_login_for_the_registry_that_podman_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    settings = load_settings(registry_ca="")
    with pytest.raises(FloeError, match=f"no login for {REGISTRY}") as refused:
        registry_pull(settings, f"{REGISTRY}/site/floe", "1.2.3", tmp_path)
    assert f"docker login {REGISTRY}" in refused.value.remediation
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"credsStore": "pass"}))
    with pytest.raises(FloeError, match="credential store") as store:
        registry_pull(settings, f"{REGISTRY}/site/floe", "1.2.3", tmp_path)
    assert "DOCKER_CONFIG=DIR docker login" in store.value.remediation


def test_the_pull_uses_the_login_the_registry_ca_and_an_image_store_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_docker_login(tmp_path / "docker", REGISTRY, "floe", "secret")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    ca = tmp_path / "registry-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    pull = registry_pull(load_settings(registry_ca=str(ca)), f"{REGISTRY}/site/floe", "1.2.3",
                         tmp_path / "smoke")  # fmt: skip
    assert pull.image("dagster") == f"{REGISTRY}/site/floe/dagster:1.2.3"
    assert pull.play_flags() == ["--authfile", str(tmp_path / "docker" / "config.json"),
                                 "--cert-dir", str(tmp_path / "smoke" / "registry-certs")]  # fmt: skip
    assert (tmp_path / "smoke" / "registry-certs" / "ca.crt").read_text() == ca.read_text()
    env = pull_store_env(tmp_path / "store")
    storage = Path(env["CONTAINERS_STORAGE_CONF"]).read_text()
    assert f'graphroot = "{tmp_path / "store" / "graph"}"' in storage
    assert (
        "unqualified-search-registries = []" in Path(env["CONTAINERS_REGISTRIES_CONF"]).read_text()
    )


def _prod() -> dict[str, Any]:
    return chosen_values(None, load_values(CHART_DIR / "values-prod.yaml"))


def test_with_postgres_tls_the_values_sslmode_stays_and_without_it_goes() -> None:
    chosen = _prod()
    chosen["artifacts"]["serving"]["postgres"]["sslmode"] = "verify-full"
    with_tls = smoke_values(chosen, IMAGES, ca="CA", postgres_tls=True)
    assert (
        with_tls["dagster"]["postgresql"]["postgresqlParams"]
        == (chosen["dagster"]["postgresql"]["postgresqlParams"])
    )
    assert with_tls["artifacts"]["serving"]["postgres"] == {**POSTGRES, "sslmode": "verify-full"}
    without = smoke_values(chosen, IMAGES, ca="CA")
    assert without["dagster"]["postgresql"]["postgresqlParams"] == {}
    assert without["artifacts"]["serving"]["postgres"] == POSTGRES


def test_a_rest_catalog_points_at_the_stand_in_and_the_smokes_ca_is_the_bundle() -> None:
    values = smoke_values(_prod(), IMAGES, ca="CA")
    catalog = values["artifacts"]["catalog"]
    assert catalog["type"] == "rest"
    assert catalog["uri"] == CATALOG_URI
    assert catalog["client_id"] == _prod()["artifacts"]["catalog"]["client_id"]
    assert values["tls"]["caBundlePem"] == "CA"
