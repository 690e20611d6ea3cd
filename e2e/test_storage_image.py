"""The S3 image (hermetic here) under the demo workload: pyiceberg writes and reads Iceberg tables
through it with the SQL catalog in the Postgres image, and its data survives a restart."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from tenacity import retry, stop_after_delay, wait_fixed
from testcontainers.core.container import DockerContainer

from floe_demo.config import CompiledArtifacts, Secrets
from floe_demo.generator import EcommerceGenerator, batch_id
from floe_demo.loader import IcebergLoader
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.containers import start

pytestmark = [
    pytest.mark.requirement("007-FR-008", evidence="real"),
    pytest.mark.requirement("007-FR-024", evidence="real"),
]


def artifacts(postgres: PostgresEndpoint, s3: S3Endpoint, bucket: str) -> CompiledArtifacts:
    pg = {
        "host": postgres.host,
        "port": postgres.port,
        "database": postgres.database,
        "user": postgres.user,
    }
    return CompiledArtifacts.model_validate(
        {
            "catalog": {"type": "sql", "warehouse": f"s3://{bucket}/warehouse", "postgres": pg},
            "storage": {"endpoint": s3.endpoint, "bucket": bucket, "access_key_id": s3.access_key},
            "serving": {"postgres": pg},
            "demo": {"namespace": f"n{secrets.token_hex(4)}"},
        }
    )


def test_iceberg_through_the_s3_and_postgres_images(
    postgres: PostgresEndpoint, s3: S3Endpoint, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    config = artifacts(postgres, s3, s3_bucket)
    secrets_ = Secrets.model_validate(
        {"storage_secret_access_key": s3.secret_key, "postgres_password": postgres.password}
    )
    loader = IcebergLoader.from_artifacts(config, secrets_)
    batch = EcommerceGenerator(seed=1).generate(1_700_000_000)
    assert loader.append(batch, batch_id(1, 1_700_000_000)).appended
    assert not loader.append(batch, batch_id(1, 1_700_000_000)).appended
    assert loader.read().num_rows == 100
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(key.endswith(".parquet") for key in keys)
    assert any(key.endswith(".metadata.json") for key in keys)


@retry(stop=stop_after_delay(60), wait=wait_fixed(0.2), reraise=True)
def _objects(service: S3Endpoint, bucket: str) -> list[str]:
    return [o["Key"] for o in service.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_s3_data_survives_a_restart(
    service_image: Callable[[str], str], docker: DockerClient, tmp_path: Path
) -> None:
    volume = docker.volume.create(labels={"org.floe-deploy.test": "1"})
    try:
        container = (
            DockerContainer(service_image("s3"))
            .with_env("MINIO_ROOT_USER", "floe")
            .with_env("MINIO_ROOT_PASSWORD", "floe-secret")
            .with_env("FLOE_S3_BUCKETS", "warehouse")
            .with_command("server /data")
            .with_exposed_ports(9000)
            .with_kwargs(volumes={volume.name: {"bind": "/data", "mode": "rw"}})
        )
        start(container, "s3_restart")
        service = S3Endpoint(
            f"http://127.0.0.1:{container.get_exposed_port(9000)}", "floe", "floe-secret"
        )
        assert _objects(service, "warehouse") == []
        service.client().put_object(
            Bucket="warehouse", Key="kept.json", Body=json.dumps({"v": 1}).encode()
        )
        container.get_wrapped_container().restart(timeout=10)
        service = S3Endpoint(
            f"http://127.0.0.1:{container.get_exposed_port(9000)}", "floe", "floe-secret"
        )
        assert _objects(service, "warehouse") == ["kept.json"]
        container.stop()
    finally:
        docker.volume.remove(volume)
