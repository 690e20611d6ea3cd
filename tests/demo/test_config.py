"""CompiledArtifacts: one file for settings, environment variables for secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from floe_demo.config import ConfigurationError, Secrets, load_artifacts

from .conftest import ArtifactsFactory

pytestmark = [
    pytest.mark.requirement("007-FR-026", evidence="real"),
    pytest.mark.requirement("007-FR-027", evidence="real"),
]


def test_a_valid_file_loads(make_artifacts: ArtifactsFactory) -> None:
    artifacts = load_artifacts(make_artifacts())
    assert artifacts.catalog.type == "sql"
    assert artifacts.demo.schedule_interval == "*/5 * * * *"
    assert artifacts.demo.data_quality.null_rate == 0.02


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"version": 1}', "setting catalog: Field required"),
        (
            '{"catalog": {"type": "hive", "warehouse": "w"}, "storage": {"bucket": "b", "access_key_id": "a"},'
            ' "serving": {"postgres": {"host": "h", "database": "d", "user": "u"}}}',
            "setting catalog.type",
        ),
        (
            '{"catalog": {"type": "sql", "warehouse": "w"}, "storage": {"bucket": "b", "access_key_id": "a"},'
            ' "serving": {"postgres": {"host": "h", "database": "d", "user": "u"}}}',
            "catalog.postgres: required for a sql catalog",
        ),
    ],
)
def test_malformed_files_name_the_setting(tmp_path: Path, document: str, message: str) -> None:
    path = tmp_path / "artifacts.json"
    path.write_text(document)
    with pytest.raises(ConfigurationError, match=message):
        load_artifacts(path)


def test_typos_are_rejected(make_artifacts: ArtifactsFactory) -> None:
    path = make_artifacts()
    document = json.loads(path.read_text())
    document["demo"]["batchsize"] = 5
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match=r"demo\.batchsize"):
        load_artifacts(path)


def test_missing_file_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_ARTIFACTS", raising=False)
    with pytest.raises(ConfigurationError, match="FLOE_ARTIFACTS is not set"):
        load_artifacts()
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_artifacts(tmp_path / "absent.json")


def test_secrets_come_only_from_the_environment() -> None:
    with pytest.raises(ConfigurationError, match="AWS_SECRET_ACCESS_KEY is not set"):
        Secrets.from_env({})
    secrets = Secrets.from_env(
        {"AWS_SECRET_ACCESS_KEY": "s3-secret", "POSTGRES_PASSWORD": "pg-secret"}
    )
    assert "s3-secret" not in repr(secrets)
    assert secrets.polaris_client_secret is None
