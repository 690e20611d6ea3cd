"""The demo workload: generate+append throughput and memory, and launch → success of one run.

Real loopback Postgres (Debian's packages) and moto's S3 server, as in the fast tests.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from benchmarks.measure import Measurement
from floe_deploy.dagster_api import launch_and_wait
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.dagster_processes import dagster_processes
from floe_deploy.testing.local_services import moto_s3, postgres_cluster

SIZES = (100, 10_000, 1_000_000)
LAUNCH_RUNS = 3
LAUNCH_GOAL_S = 6.0
LAUNCH_FLOOR_S = 30.0


def _artifacts(
    postgres: PostgresEndpoint, database: str, s3: S3Endpoint, bucket: str, batch_size: int
) -> dict[str, object]:
    pg = {"host": postgres.host, "port": postgres.port, "database": database, "user": postgres.user}
    return {
        "catalog": {"type": "sql", "warehouse": f"s3://{bucket}/warehouse", "postgres": pg},
        "storage": {"endpoint": s3.endpoint, "bucket": bucket, "access_key_id": s3.access_key},
        "serving": {"postgres": pg},
        "demo": {"batch_size": batch_size},
    }


def _prepare(postgres: PostgresEndpoint, s3: S3Endpoint, batch_size: int) -> dict[str, object]:
    name = f"b{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    s3.client().create_bucket(Bucket=name)
    return _artifacts(postgres, name, s3, name, batch_size)


def _generate_and_append(
    document: dict[str, object], secret: str, password: str
) -> tuple[float, int]:
    """In a fresh process, so the memory peak is this batch's alone."""
    from pydantic import SecretStr  # noqa: PLC0415

    from floe_demo.config import CompiledArtifacts, Secrets  # noqa: PLC0415
    from floe_demo.generator import EcommerceGenerator, batch_id  # noqa: PLC0415
    from floe_demo.loader import IcebergLoader  # noqa: PLC0415

    artifacts = CompiledArtifacts.model_validate(document)
    secrets = Secrets(
        storage_secret_access_key=SecretStr(secret), postgres_password=SecretStr(password)
    )
    loader = IcebergLoader.from_artifacts(artifacts, secrets)
    loader.table()
    started = time.perf_counter()
    batch = EcommerceGenerator(batch_size=artifacts.demo.batch_size).generate(1_700_000_000)
    loader.append(batch, batch_id(42, 1_700_000_000))
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run() -> list[Measurement]:
    measurements = []
    with postgres_cluster() as postgres, moto_s3() as s3:
        context = multiprocessing.get_context("spawn")
        for size in SIZES:
            document = _prepare(postgres, s3, size)
            with context.Pool(1) as pool:
                seconds, peak_kib = pool.apply(
                    _generate_and_append, (document, s3.secret_key, postgres.password)
                )
            measurements.append(
                Measurement(
                    name=f"generate_append_rows_per_second_{size}",
                    value=round(size / seconds),
                    unit="rows/s",
                    details={
                        "seconds": round(seconds, 3),
                        "peak_rss_mb": round(peak_kib / 1024, 1),
                    },
                )
            )
        document = _prepare(postgres, s3, 100)
        with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
            artifacts = Path(scratch) / "artifacts.json"
            artifacts.write_text(__import__("json").dumps(document))
            pg = document["serving"]["postgres"]  # type: ignore[index]
            env = {
                "FLOE_ARTIFACTS": str(artifacts),
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "POSTGRES_PASSWORD": postgres.password,
            }
            with dagster_processes(
                Path(scratch) / "home",
                postgres_host=postgres.host,
                postgres_port=postgres.port,
                user=postgres.user,
                database=pg["database"],
                env=env,
            ) as dagster:
                samples = []
                for number in range(LAUNCH_RUNS):
                    _, status, seconds = launch_and_wait(
                        dagster.url,
                        "demo_pipeline",
                        {"floe/batch-number": str(1_700_000_000 + 300 * number)},
                    )
                    if status != "SUCCESS":
                        raise RuntimeError(f"benchmark run ended {status}")
                    samples.append(seconds)
        measurements.append(
            Measurement(
                name="launch_to_success_seconds",
                value=round(statistics.median(samples), 2),
                unit="s",
                goal=LAUNCH_GOAL_S,
                floor=LAUNCH_FLOOR_S,
                details={
                    "samples": [round(s, 2) for s in samples],
                    "settings": "dequeue_interval_seconds=1, in-process executor",
                },
            )
        )
    return measurements
