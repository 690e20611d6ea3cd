"""Preflight: checks run in parallel, the timeout covers the probe and not the import, and a
healthy service never times out.

Against a real PostgreSQL cluster (Dagster's database and the SQL catalog), moto's S3 server and
sockets that accept and never answer; the console script runs as a process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psycopg

from benchmarks.measure import Measurement
from floe_deploy.testing import PostgresEndpoint, S3Endpoint
from floe_deploy.testing.local_services import moto_s3, postgres_cluster
from floe_deploy.testing.protocol_servers import silent_socket
from floe_preflight.config import PreflightSettings
from floe_preflight.runner import run_preflight

TIMEOUT_S = 2.0
IN_PROCESS_RUNS = 5
HEALTHY_PROCESS_RUNS = 20
BLACK_HOLED_RUNS = 3
SERVICE_CHECKS = ["compute", "storage", "catalog", "postgres"]
PREFLIGHT = str(Path(sys.executable).with_name("floe-preflight"))


def _env(
    pg: PostgresEndpoint,
    s3: S3Endpoint,
    *,
    storage_port: int | None = None,
    pg_port: int | None = None,
) -> dict[str, str]:
    storage = f"http://127.0.0.1:{storage_port}" if storage_port else s3.endpoint
    port = pg_port or pg.port
    return {
        "FLOE_POSTGRES__HOST": pg.host, "FLOE_POSTGRES__PORT": str(port), "FLOE_POSTGRES__USER": pg.user,
        "FLOE_POSTGRES__DATABASE": pg.database, "POSTGRES_PASSWORD": pg.password,
        "FLOE_STORAGE__ENDPOINT": storage, "FLOE_STORAGE__BUCKET": "bench",
        "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "FLOE_CATALOG__TYPE": "sql", "FLOE_CATALOG__URI": f"postgresql://{pg.user}@127.0.0.1:{port}/{pg.database}",
    }  # fmt: skip


@contextmanager
def _services() -> Iterator[tuple[PostgresEndpoint, S3Endpoint]]:
    with ExitStack() as stack:
        pg = stack.enter_context(postgres_cluster())
        s3 = stack.enter_context(moto_s3())
        s3.client().create_bucket(Bucket="bench")
        with psycopg.connect(pg.dsn(), autocommit=True) as connection:
            connection.execute("CREATE TABLE iceberg_tables (catalog_name text, table_name text)")
        yield pg, s3


def _process(env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one `floe-preflight` process and its JSON report."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "AWS_", "POLARIS_", "PG"))
    }
    started = time.perf_counter()
    done = subprocess.run(
        [PREFLIGHT, *args, "--json"],
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def _in_process(pg: PostgresEndpoint, s3: S3Endpoint) -> Measurement:
    with patch.dict(os.environ, _env(pg, s3)):  # the settings read the environment; restored after
        settings = PreflightSettings()
        run_preflight(settings, SERVICE_CHECKS)
        ratios, totals = [], []
        for _ in range(IN_PROCESS_RUNS):
            started = time.perf_counter()
            report = run_preflight(settings, SERVICE_CHECKS)
            totals.append((time.perf_counter() - started) * 1000)
            ratios.append(
                totals[-1] / (max(r.duration_ms + r.import_ms for r in report.results) or 1)
            )
    return Measurement(
        name="all_checks_over_slowest_check", value=round(statistics.median(ratios), 3), unit="ratio", goal=1.1, floor=1.5,
        details={"runs": IN_PROCESS_RUNS, "ratios": [round(r, 3) for r in ratios], "total_ms": [round(t) for t in totals],
                 "statuses": {r.service: r.status.value for r in report.results}},
    )  # fmt: skip


def _healthy(pg: PostgresEndpoint, s3: S3Endpoint) -> list[Measurement]:
    """A healthy platform at --timeout 2, as separate processes: the probe is ms, the import is not."""
    walls, probes, imports, timeouts, statuses = [], [], [], [], []
    for _ in range(HEALTHY_PROCESS_RUNS):
        wall, found = _process(
            _env(pg, s3), *(f"--check={c}" for c in SERVICE_CHECKS), "--timeout", str(TIMEOUT_S)
        )
        walls.append(wall)
        probes.append(max(r["duration_ms"] for r in found["results"]) / 1000)
        imports.append(max(r["import_ms"] for r in found["results"]) / 1000)
        timeouts += [r["service"] for r in found["results"] if r["kind"] == "timeout"]
        statuses.append(sorted({r["status"] for r in found["results"]}))
    return [
        Measurement(
            name="healthy_runs_with_a_timeout",
            value=len(timeouts),
            unit="count",
            goal=0,
            floor=0,
            details={
                "runs": HEALTHY_PROCESS_RUNS,
                "timeout_s": TIMEOUT_S,
                "timed_out": timeouts,
                "statuses": sorted({s for run in statuses for s in run}),
            },
        ),
        Measurement(
            name="process_wall_over_slowest_probe",
            value=round(
                statistics.median(w / max(p, 0.001) for w, p in zip(walls, probes, strict=True)), 1
            ),
            unit="ratio",
            details={
                "median_wall_s": round(statistics.median(walls), 3),
                "median_slowest_probe_s": round(statistics.median(probes), 3),
                "median_slowest_import_s": round(statistics.median(imports), 3),
                "max_slowest_import_s": round(max(imports), 3),
                "note": "the wall is the interpreter, the client imports and the probes; the timeout covers only the probes",
            },
        ),
    ]


def _black_holed(pg: PostgresEndpoint, s3: S3Endpoint) -> Measurement:
    """Storage, the SQL catalog and Postgres behind sockets that never answer, at --timeout 2.

    Process start is what comes before the probes: the interpreter and CLI (`--list`, no client
    library) plus the slowest check's import, which this run reports itself."""
    starts = [_process({}, "--list")[0] for _ in range(3)]
    cli_start = statistics.median(starts)
    beyond, walls, details = [], [], {}
    with silent_socket() as storage_port, silent_socket() as pg_port:
        for _ in range(BLACK_HOLED_RUNS):
            wall, found = _process(
                _env(pg, s3, storage_port=storage_port, pg_port=pg_port),
                "--check", "storage", "--check", "catalog", "--check", "postgres", "--timeout", str(TIMEOUT_S),
            )  # fmt: skip
            slowest_import = max(r["import_ms"] for r in found["results"]) / 1000
            walls.append(wall)
            beyond.append(wall - cli_start - slowest_import)
            details = {
                r["service"]: f"{r['kind']} after {r['duration_ms']} ms" for r in found["results"]
            }
    return Measurement(
        name="black_holed_wall_beyond_process_start_s", value=round(statistics.median(beyond), 3), unit="s",
        goal=TIMEOUT_S + 0.1, floor=TIMEOUT_S + 1.0,
        details={"timeout_s": TIMEOUT_S, "walls_s": [round(w, 3) for w in walls], "cli_start_s": round(cli_start, 3),
                 "beyond_start_s": [round(b, 3) for b in beyond], "last_run": details,
                 "goal": "the timeout, plus 0.1 s for threads and printing"},
    )  # fmt: skip


def run() -> list[Measurement]:
    with _services() as (pg, s3):
        return [_in_process(pg, s3), *_healthy(pg, s3), _black_holed(pg, s3)]
