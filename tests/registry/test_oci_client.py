"""The toolkit's one registry client against the real distribution registry (Debian's binary),
served over TLS from a CA the test makes and behind htpasswd logins, as private registries are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_deploy.images.signing import Signer, Verifier, dev_key_pair, sign, verify_signature
from floe_deploy.oci import Fault, OciClient, RegistryError
from floe_deploy.settings import load_settings
from floe_deploy.testing import free_port
from floe_deploy.testing.registries import PrivateRegistry, registry_process, write_docker_login

pytestmark = pytest.mark.requirement("007-FR-045", evidence="real")


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRegistry]:
    with registry_process(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture
def logged_in(
    private_registry: PrivateRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> OciClient:
    """A DOCKER_CONFIG holding the registry's login, as `docker login` leaves it."""
    config = tmp_path / "docker"
    files = private_registry.files
    write_docker_login(config, private_registry.address, files.username, files.password)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return OciClient(ca_file=files.ca_file)


def _artifact(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_no_login_is_its_own_error(
    private_registry: PrivateRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RegistryError) as caught:
        OciClient(ca_file=private_registry.files.ca_file).check(private_registry.address, "floe/x")
    assert caught.value.fault is Fault.AUTHENTICATION
    assert f"no login for {private_registry.address}" in caught.value.message
    assert f"docker login {private_registry.address}" in caught.value.remediation


def test_wrong_password_is_its_own_error(
    private_registry: PrivateRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_docker_login(tmp_path, private_registry.address, private_registry.files.username, "stale")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(RegistryError) as caught:
        OciClient(ca_file=private_registry.files.ca_file).check(private_registry.address, "floe/x")
    assert caught.value.fault is Fault.AUTHENTICATION
    assert "refused the stored credentials" in caught.value.message
    assert "stale" not in str(caught.value) + caught.value.details


def test_unknown_ca_is_its_own_error(
    private_registry: PrivateRegistry, logged_in: OciClient
) -> None:
    with pytest.raises(RegistryError) as caught:
        OciClient().check(private_registry.address, "floe/x")
    assert caught.value.fault is Fault.TLS_TRUST
    assert "FLOE_REGISTRY_CA" in caught.value.remediation


def test_unreachable_registry_is_its_own_error(logged_in: OciClient) -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as caught:
        logged_in.check(address, "floe/x")
    assert caught.value.fault is Fault.REACHABILITY
    assert address in caught.value.message


def test_logged_in_client_pushes_tags_attaches_and_copies(
    private_registry: PrivateRegistry, logged_in: OciClient, tmp_path: Path
) -> None:
    repo = f"{private_registry.address}/floe/notes"
    assert logged_in.resolve(f"{repo}:1.0.0") is None
    pushed = logged_in.push_files(
        f"{repo}:build", [(_artifact(tmp_path / "a", "notes.txt", "hello"), "text/plain")]
    )
    logged_in.tag(f"{repo}@{pushed.digest}", ["1.0.0", "latest"])
    assert logged_in.resolve(f"{repo}:1.0.0") == logged_in.resolve(f"{repo}:latest")
    resolved = logged_in.resolve(f"{repo}:1.0.0")
    assert resolved is not None
    assert resolved.digest == pushed.digest
    sbom = _artifact(tmp_path / "b", "sbom.json", json.dumps({"bomFormat": "CycloneDX"}))
    attached = logged_in.attach(f"{repo}@{pushed.digest}", sbom, "application/vnd.cyclonedx+json")
    referrers = logged_in.referrers(f"{repo}@{pushed.digest}", "application/vnd.cyclonedx+json")
    assert [r.digest for r in referrers] == [attached]
    copy = f"{private_registry.address}/mirror/notes"
    logged_in.copy(f"{repo}:1.0.0", f"{copy}:1.0.0")
    copied = logged_in.resolve(f"{copy}:1.0.0")
    assert copied is not None
    assert copied.digest == pushed.digest
    assert [
        r.digest
        for r in logged_in.referrers(f"{copy}@{pushed.digest}", "application/vnd.cyclonedx+json")
    ] == [attached]


def test_cosign_signs_and_verifies_with_the_same_login_and_ca(
    private_registry: PrivateRegistry,
    logged_in: OciClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOE_STATE_DIR", str(tmp_path / "state"))
    key, public = dev_key_pair(load_settings())
    repo = f"{private_registry.address}/floe/signed"
    pushed = logged_in.push_files(
        f"{repo}:1.0.0", [(_artifact(tmp_path / "c", "a.txt", "x"), "text/plain")]
    )
    sign(logged_in, f"{repo}@{pushed.digest}", Signer(key=key))
    ok, detail = verify_signature(logged_in, f"{repo}@{pushed.digest}", Verifier(public_key=public))
    assert ok, detail
    with pytest.raises(RegistryError) as caught:
        sign(OciClient(), f"{repo}@{pushed.digest}", Signer(key=key))
    assert caught.value.fault is Fault.TLS_TRUST


def test_copies_between_a_private_and_a_plain_loopback_registry(
    private_registry: PrivateRegistry, logged_in: OciClient, tmp_path: Path
) -> None:
    """oras is told which side speaks plain HTTP: the one that answered so, not the first."""
    with registry_process(tmp_path / "plain", private=False) as plain:
        source = f"{private_registry.address}/floe/copied"
        pushed = logged_in.push_files(
            f"{source}:1.0.0", [(_artifact(tmp_path / "d", "a.txt", "y"), "text/plain")]
        )
        logged_in.copy(f"{source}:1.0.0", f"{plain.address}/library/copied:1.0.0")
        back = OciClient(ca_file=private_registry.files.ca_file)
        back.copy(f"{plain.address}/library/copied:1.0.0", f"{source}:again")
        copied = back.resolve(f"{source}:again")
        assert copied is not None
        assert copied.digest == pushed.digest
