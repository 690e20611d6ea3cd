"""Preflight: total time of all checks ÷ the slowest one, and a never-answering host's cost."""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.measure import Measurement
from floe_deploy.testing.local_services import moto_s3, postgres_cluster
from floe_deploy.testing.protocol_servers import iceberg_rest, silent_socket
from floe_preflight.config import PreflightSettings
from floe_preflight.runner import CHECKS, run_preflight

TIMEOUT_S = 2.0
RUNS = 5


def run() -> list[Measurement]:
    with postgres_cluster() as pg, moto_s3() as s3, iceberg_rest("c", "s", {"demo"}) as catalog:
        s3.client().create_bucket(Bucket="bench")
        env = {
            "FLOE_POSTGRES__HOST": pg.host, "FLOE_POSTGRES__PORT": str(pg.port), "FLOE_POSTGRES__USER": pg.user,
            "POSTGRES_PASSWORD": pg.password, "FLOE_STORAGE__ENDPOINT": s3.endpoint, "FLOE_STORAGE__BUCKET": "bench",
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key, "FLOE_CATALOG__TYPE": "rest",
            "FLOE_CATALOG__URI": catalog, "FLOE_CATALOG__WAREHOUSE": "demo", "POLARIS_CLIENT_ID": "c",
            "POLARIS_CLIENT_SECRET": "s",
        }  # fmt: skip
        os.environ.update(env)
        settings = PreflightSettings()
        run_preflight(settings, list(CHECKS))
        ratios, totals = [], []
        for _ in range(RUNS):
            started = time.perf_counter()
            report = run_preflight(settings, list(CHECKS))
            totals.append((time.perf_counter() - started) * 1000)
            ratios.append(totals[-1] / (max(r.duration_ms for r in report.results) or 1))
        with silent_socket() as port:
            os.environ["FLOE_POSTGRES__PORT"] = str(port)
            slow = PreflightSettings(timeout=TIMEOUT_S)
            started = time.perf_counter()
            hung = run_preflight(slow, ["postgres"])
            hung_s = time.perf_counter() - started
    return [
        Measurement(
            name="all_checks_over_slowest_check",
            value=round(statistics.median(ratios), 3),
            unit="ratio",
            goal=1.1,
            details={
                "runs": RUNS,
                "ratios": [round(r, 3) for r in ratios],
                "total_ms": [round(t) for t in totals],
                "per_check_ms": {r.service: r.duration_ms for r in report.results},
                "statuses": {r.service: r.status.value for r in report.results},
            },
        ),
        Measurement(
            name="never_answering_host_seconds",
            value=round(hung_s, 2),
            unit="s",
            goal=TIMEOUT_S + 1,
            details={
                "timeout_s": TIMEOUT_S,
                "status": hung.results[0].status.value,
                "message": hung.results[0].message,
            },
        ),
    ]
