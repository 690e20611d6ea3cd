"""The preflight `platform` check against the real engine and compose plugin, and the storage
check against the project's S3 image."""

from __future__ import annotations

import json

import pytest

from floe_deploy.testing import S3Endpoint, run_task

pytestmark = pytest.mark.requirement("007-FR-034", evidence="real")


def test_platform_check_sees_the_real_engine() -> None:
    done = run_task("preflight", "--check", "platform", "--json")
    (result,) = json.loads(done.stdout)["results"]
    assert done.returncode == 0, result
    assert result["status"] == "ok"
    assert "compose" in result["message"]


def test_unreachable_engine_is_an_error_with_remediation() -> None:
    done = run_task(
        "preflight",
        "--check",
        "platform",
        "--format",
        "lines",
        env={"FLOE_PLATFORM__DOCKER_SOCKET": "/nonexistent.sock"},
    )
    assert done.returncode == 3
    assert done.stdout.startswith(
        "[PLATFORM] ERROR: the Docker engine does not answer on /nonexistent.sock. Remediation: Start Docker"
    )


def test_unknown_check_is_a_usage_error() -> None:
    done = run_task("preflight", "--check", "kafka")
    assert done.returncode == 2
    assert "Invalid value for '--check': 'kafka' is not one of" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_storage_check_passes_on_a_warehouse_with_many_objects(
    s3: S3Endpoint, s3_bucket: str
) -> None:
    """A listing truncated after one key must work on every S3-compatible server: the hermetic
    image's s3rver answered ListObjectsV2 with 500 there, so a second `demo.up` failed."""
    client = s3.client()
    for number in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"warehouse/t/{number}.parquet", Body=b"x")
    env = {
        "FLOE_STORAGE__ENDPOINT": s3.endpoint, "FLOE_STORAGE__BUCKET": s3_bucket,
        "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    }  # fmt: skip
    done = run_task("preflight", "--check", "storage", "--json", env=env)
    (result,) = json.loads(done.stdout)["results"]
    assert result["status"] == "ok", result
    assert done.returncode == 0
