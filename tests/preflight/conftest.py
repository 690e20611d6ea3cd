"""Helpers of the preflight tests: the console script run in process, and settings as environment."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.protocol_servers import iceberg_rest
from floe_preflight.cli import run_cli

CLIENT_ID, CLIENT_SECRET = "floe-client", "polaris-s3cr3t-value"
MODES = ("table", "json", "lines")
"""Every output mode: a case must hold in each."""
SECRET_MARK = "S3CRET"


def secret(label: str) -> str:
    """A secret with a marker, so even a truncated one in a table cell is found."""
    return f"{SECRET_MARK}{label}{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the machine leaks in; the working directory has no floe-deploy.toml."""
    for name in list(os.environ):
        if name.startswith(("FLOE_", "POLARIS_", "AWS_", "PG")) or name == "POSTGRES_PASSWORD":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def preflight(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run floe-preflight in process; its exit code and everything it printed (stdout and stderr)."""
    with CliRunner().isolation(env=env) as (_, _, printed):
        code = run_cli(list(args))
        return code, printed.getvalue().decode()


def report(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    code, output = preflight(env, *args, "--json")
    return code, json.loads(output)


def results(env: dict[str, str], *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    code, found = report(env, *args)
    return code, {r["service"]: r for r in found["results"]}


def pg_env(postgres: PostgresEndpoint, **overrides: str) -> dict[str, str]:
    env = {
        "FLOE_POSTGRES__HOST": postgres.host,
        "FLOE_POSTGRES__PORT": str(postgres.port),
        "FLOE_POSTGRES__DATABASE": postgres.database,
        "FLOE_POSTGRES__USER": postgres.user,
        "POSTGRES_PASSWORD": postgres.password,
    }
    return env | overrides


def s3_env(s3: S3Endpoint, bucket: str) -> dict[str, str]:
    return {
        "FLOE_STORAGE__ENDPOINT": s3.endpoint,
        "FLOE_STORAGE__BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    }


@pytest.fixture
def rest_catalog() -> Iterator[str]:
    with iceberg_rest(CLIENT_ID, CLIENT_SECRET, {"demo"}, forbidden={"secret-wh"}) as url:
        yield url


def rest_env(url: str, secret: str = CLIENT_SECRET, warehouse: str = "demo") -> dict[str, str]:
    return {
        "FLOE_CATALOG__TYPE": "rest",
        "FLOE_CATALOG__URI": url,
        "FLOE_CATALOG__WAREHOUSE": warehouse,
        "POLARIS_CLIENT_ID": CLIENT_ID,
        "POLARIS_CLIENT_SECRET": secret,
    }
