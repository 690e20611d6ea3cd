"""Settings precedence (file < FLOE_* env < task options) and validation of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.build import plan_build
from floe_deploy.oci import OciClient
from floe_deploy.settings import load_settings
from floe_preflight.config import PreflightSettings

pytestmark = pytest.mark.requirement("007-FR-001", evidence="real")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("FLOE_REGISTRY", "FLOE_PLATFORMS", "FLOE_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_defaults_when_nothing_is_configured() -> None:
    settings = load_settings()
    assert settings.registry == "127.0.0.1:5000"
    assert settings.platforms == ["linux/amd64", "linux/arm64"]
    assert settings.state_dir == Path.home() / ".local" / "state" / "floe-deploy"


def test_file_then_env_then_options(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "floe-deploy.toml").write_text(
        'registry = "127.0.0.1:6000"\nimage_prefix = "acme"\nplatforms = ["linux/arm64"]\n'
    )
    from_file = load_settings()
    assert (from_file.registry, from_file.image_prefix, from_file.platforms) == (
        "127.0.0.1:6000",
        "acme",
        ["linux/arm64"],
    )
    monkeypatch.setenv("FLOE_REGISTRY", "127.0.0.1:7000")
    assert load_settings().registry == "127.0.0.1:7000"
    assert load_settings(registry="127.0.0.1:8000").registry == "127.0.0.1:8000"
    assert load_settings(registry=None).registry == "127.0.0.1:7000"


def test_pyproject_table_is_read(isolated: Path) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.floe-deploy]\nimage_prefix = "from-pyproject"\n'
    )
    assert load_settings().image_prefix == "from-pyproject"


def test_platforms_from_env_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_PLATFORMS", "linux/arm64, linux/amd64")
    assert load_settings().platforms == ["linux/arm64", "linux/amd64"]


def test_xdg_state_home_moves_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert load_settings().state_dir == tmp_path / "xdg" / "floe-deploy"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"platforms": "linux/s390x"}, "unsupported platform 'linux/s390x'"),
        ({"platforms": "amd64"}, "unsupported platform 'amd64'"),
        ({"registry": "localhost/x"}, "is not host[:port]"),
        ({"registry": "127.0.0.1:99999"}, "is not host[:port]"),
    ],
)
def test_bad_values_are_one_clear_error(options: dict[str, str], fragment: str) -> None:
    with pytest.raises(FloeError) as caught:
        load_settings(**options)
    assert fragment in caught.value.message
    assert caught.value.exit_code is ExitCode.USAGE
    assert "FLOE_" in caught.value.remediation


def test_unknown_key_in_the_file_is_rejected(isolated: Path) -> None:
    (isolated / "floe-deploy.toml").write_text('registy = "typo:5000"\n')
    with pytest.raises(FloeError, match="registy"):
        load_settings()


@pytest.mark.requirement("007-FR-057", evidence="real")
def test_one_private_ca_feeds_every_client_ca_setting(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLOE_CA_BUNDLE: the registry clients' CA (oras, cosign) and the image builds' bundle,
    unless their own setting names another; floe-preflight reads the same variable."""
    private, registry = isolated / "private-ca.pem", isolated / "registry-ca.pem"
    private.write_text("private")
    registry.write_text("registry")
    monkeypatch.delenv("FLOE_REGISTRY_CA", raising=False)
    monkeypatch.setenv("FLOE_CA_BUNDLE", str(private))
    settings = load_settings()
    assert OciClient.from_settings(settings).ca_file == private
    assert plan_build(settings, ["dagster"]).ca_bundle == private
    preflight = PreflightSettings()
    assert {
        preflight.compute.ca_file, preflight.storage.ca_bundle, preflight.catalog.ca_file,
        preflight.postgres.sslrootcert,
    } == {str(private)}  # fmt: skip
    monkeypatch.setenv("FLOE_REGISTRY_CA", str(registry))
    assert load_settings().registry_ca == registry
    monkeypatch.setenv("FLOE_CA_BUNDLE", str(isolated / "missing.pem"))
    with pytest.raises(FloeError, match="ca_bundle"):
        load_settings()
