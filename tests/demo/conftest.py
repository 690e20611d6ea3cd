"""A CompiledArtifacts file per test, pointing at the real loopback Postgres and S3 server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_demo.config import (
    ARTIFACTS_ENV,
    POSTGRES_PASSWORD_ENV,
    STORAGE_SECRET_ENV,
    CompiledArtifacts,
)
from floe_deploy.testing import PostgresEndpoint, S3Endpoint

ArtifactsFactory = Callable[..., Path]


@pytest.fixture
def make_artifacts(
    tmp_path: Path,
    local_postgres: PostgresEndpoint,
    local_database: str,
    local_s3: S3Endpoint,
    local_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> ArtifactsFactory:
    """Write a CompiledArtifacts file (overrides merged in) and set FLOE_ARTIFACTS and the secrets."""

    def make(**overrides: Any) -> Path:
        postgres = {
            "host": local_postgres.host,
            "port": local_postgres.port,
            "database": local_database,
            "user": local_postgres.user,
        }
        document: dict[str, Any] = {
            "version": 1,
            "catalog": {
                "type": "sql",
                "name": "floe",
                "warehouse": f"s3://{local_bucket}/warehouse",
                "postgres": postgres,
            },
            "storage": {
                "endpoint": local_s3.endpoint,
                "bucket": local_bucket,
                "access_key_id": local_s3.access_key,
            },
            "compute": {"type": "duckdb"},
            "serving": {"postgres": postgres, "schema": "marts"},
            "demo": {"batch_size": 100, "seed": 7},
        }
        for section, values in overrides.items():
            if isinstance(values, dict) and isinstance(document.get(section), dict):
                document[section] = {**document[section], **values}
            else:
                document[section] = values
        path = tmp_path / "artifacts.json"
        path.write_text(json.dumps(document, indent=2))
        monkeypatch.setenv(ARTIFACTS_ENV, str(path))
        monkeypatch.setenv(STORAGE_SECRET_ENV, local_s3.secret_key)
        monkeypatch.setenv(POSTGRES_PASSWORD_ENV, local_postgres.password)
        return path

    return make


@pytest.fixture
def artifacts(make_artifacts: ArtifactsFactory) -> CompiledArtifacts:
    from floe_demo.config import load_artifacts  # noqa: PLC0415

    return load_artifacts(make_artifacts())
