"""The toolkit against a registry that answers like GHCR: the real distribution registry with its
token authentication behind a stand-in of GHCR's token endpoint and answers (DENIED for a package
that does not exist yet, pushes only under the owner's namespace); see floe_deploy.testing.ghcr."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.images.publish import require_push_rights
from floe_deploy.oci import Fault, OciClient, RegistryError
from floe_deploy.release.publish import chart_registry, publish_release
from floe_deploy.settings import load_settings
from floe_deploy.testing.charts import chart_with_stand_in
from floe_deploy.testing.ghcr import Account, GhcrLikeRegistry, ghcr_like_registry
from floe_deploy.testing.registries import write_docker_login

pytestmark = pytest.mark.requirement("007-FR-053", evidence="stand-in")

ACCOUNT = Account("release-bot", "ghs_job-token", "acme")


@pytest.fixture(scope="module")
def ghcr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhcrLikeRegistry]:
    with ghcr_like_registry(tmp_path_factory.mktemp("ghcr"), [ACCOUNT]) as registry:
        yield registry


@pytest.fixture
def logged_in(ghcr: GhcrLikeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OciClient:
    write_docker_login(tmp_path / "docker", ghcr.address, ACCOUNT.username, ACCOUNT.token)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return OciClient(ca_file=ghcr.ca_file)


def test_a_package_that_does_not_exist_yet_reads_as_missing_not_as_no_rights(
    ghcr: GhcrLikeRegistry, logged_in: OciClient
) -> None:
    """GHCR answers DENIED to a read of a package nobody pushed: a first release's access check
    and release-tag guard must read that as "not there"."""
    assert logged_in.resolve(f"{ghcr.address}/acme/floe/dagster:1.0.0") is None
    assert (
        "GET",
        "/v2/acme/floe/dagster/manifests/1.0.0",
        403,
    ) in ghcr.requests
    logged_in.check(ghcr.address, "acme/floe/access-check")


def test_push_rights_are_checked_under_the_owners_namespace(
    ghcr: GhcrLikeRegistry, logged_in: OciClient, tmp_path: Path
) -> None:
    require_push_rights(logged_in, [f"{ghcr.address}/acme/floe/dagster"], tmp_path)
    with pytest.raises(RegistryError) as refused:
        require_push_rights(logged_in, [f"{ghcr.address}/charts/floe-dagster"], tmp_path)
    assert refused.value.fault is Fault.AUTHORISATION
    assert "charts/floe-dagster" in refused.value.message


def test_the_chart_is_pushed_under_the_images_prefix(ghcr: GhcrLikeRegistry) -> None:
    """On the old layout the chart went to `<registry>/charts`, outside the owner's namespace."""
    settings = load_settings(registry=ghcr.address, image_prefix="acme/floe")
    assert chart_registry(settings) == f"oci://{ghcr.address}/acme/floe/charts"


def test_a_wrong_job_token_is_refused_at_the_token_endpoint(
    ghcr: GhcrLikeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_docker_login(tmp_path / "docker", ghcr.address, ACCOUNT.username, "ghs_expired")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    with pytest.raises(RegistryError) as refused:
        OciClient(ca_file=ghcr.ca_file).check_push(f"{ghcr.address}/acme/floe/dagster", tmp_path)
    assert refused.value.fault is Fault.AUTHENTICATION


@pytest.fixture
def unbuildable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building anything fails the test: the inputs must be refused before the first build."""

    def build_images(*args: object, **kwargs: object) -> None:
        raise AssertionError("a build started before the release's inputs were checked")

    monkeypatch.setattr("floe_deploy.release.publish.build_images", build_images)


@pytest.mark.usefixtures("unbuildable")
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("chart dependency missing", "chart dependency dagster"),
        ("no push rights under the prefix", "checking push rights to"),
        ("keyless without an OIDC token", "keyless signing needs the CI job's OIDC token"),
    ],
)
def test_every_input_is_checked_before_the_first_build(
    case: str,
    expected: str,
    ghcr: GhcrLikeRegistry,
    logged_in: OciClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old order built every image for both platforms (up to two hours under QEMU) and then
    failed on the chart, the registry or the signing."""
    for name in (
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SIGSTORE_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    chart = chart_with_stand_in(tmp_path / "chart")
    if case == "chart dependency missing":
        shutil.rmtree(chart / "charts")
    prefix = "someone-else/floe" if case == "no push rights under the prefix" else "acme/floe"
    settings = load_settings(registry=ghcr.address, image_prefix=prefix, registry_ca=ghcr.ca_file)
    with pytest.raises(FloeError) as refused:
        publish_release(
            settings, Console(json_mode=True), keyless=case == "keyless without an OIDC token",
            version="1.0.0", chart_dir=chart, record_dir=tmp_path / "records",
        )  # fmt: skip
    assert expected in refused.value.message
