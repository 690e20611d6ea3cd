"""The demo's dashboard: orders and revenue through Cube, data quality and runs from Dagster.

The browser talks only to this server: the Cube token is signed here from CUBEJS_API_SECRET and
never reaches the page. Every file it serves ships in the package (no CDN: air-gapped machines
have none). `python -m floe_demo.dashboard` serves it (the compose service `dashboard`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from floe_demo.cube import CubeClient, CubeError

STATIC = Path(__file__).parent / "dashboard_static"
CUBE_URL_ENV = "FLOE_DASHBOARD_CUBE_URL"
DAGSTER_URL_ENV = "FLOE_DASHBOARD_DAGSTER_URL"
CUBE_SECRET_ENV = "CUBEJS_API_SECRET"  # noqa: S105 (the variable's name)
PORT_ENV = "FLOE_DASHBOARD_PORT"
LISTEN_ON = "0.0.0.0"  # noqa: S104 (inside its container; compose publishes it on 127.0.0.1 only)
DAGSTER_QUERY = """
query Dashboard {
  runsOrError(limit: 8) {
    __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
  orders: assetNodeOrError(assetKey: {path: ["demo_orders"]}) { ...quality }
  ordersDaily: assetNodeOrError(assetKey: {path: ["orders_daily"]}) { ...quality }
}
fragment quality on AssetNode {
  assetMaterializations(limit: 1) {
    timestamp
    metadataEntries { label ... on IntMetadataEntry { intValue } }
  }
  assetChecksOrError {
    ... on AssetChecks { checks { name executionForLatestMaterialization { status } } }
  }
}
"""
"""Validated against dagster-graphql's schema by tests/demo/test_dashboard.py."""
QUALITY_FIGURES = ("rows", "null_cells", "duplicate_rows", "late_rows", "duplicates_removed")


class DayRow(BaseModel):
    day: str
    status: str
    orders: int
    revenue: float


class Run(BaseModel):
    run_id: str
    status: str
    start_time: float | None
    end_time: float | None
    batch: str | None


class Check(BaseModel):
    name: str
    status: str


class Summary(BaseModel):
    """What the page shows; every number is Cube's (orders) or Dagster's (quality, runs)."""

    orders: int
    revenue: float
    days: list[DayRow]
    quality: dict[str, int]
    checks: list[Check]
    runs: list[Run]


def _number(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def cube_figures(cube: CubeClient) -> tuple[int, float, list[DayRow]]:
    totals = cube.load({"measures": ["Orders.count", "Orders.revenue"]})
    rows = cube.load(
        {
            "measures": ["Orders.count", "Orders.revenue"],
            "dimensions": ["Orders.status"],
            "timeDimensions": [{"dimension": "Orders.day", "granularity": "day"}],
            "order": {"Orders.day": "asc", "Orders.status": "asc"},
        }
    )
    total = totals[0] if totals else {}
    days = [
        DayRow(
            day=str(row["Orders.day.day"])[:10],
            status=str(row["Orders.status"]),
            orders=int(_number(row["Orders.count"])),
            revenue=round(_number(row["Orders.revenue"]), 2),
        )
        for row in rows
    ]
    return (
        int(_number(total.get("Orders.count"))),
        round(_number(total.get("Orders.revenue")), 2),
        days,
    )


def dagster_figures(
    client: httpx.Client, dagster_url: str
) -> tuple[dict[str, int], list[Check], list[Run]]:
    response = client.post(f"{dagster_url}/graphql", json={"query": DAGSTER_QUERY})
    response.raise_for_status()
    data = response.json()["data"]
    quality: dict[str, int] = {}
    checks: list[Check] = []
    for node in (data["orders"], data["ordersDaily"]):
        for materialization in node.get("assetMaterializations", [])[:1]:
            for entry in materialization["metadataEntries"]:
                if entry["label"] in QUALITY_FIGURES and entry.get("intValue") is not None:
                    quality[entry["label"]] = int(entry["intValue"])
        for check in (node.get("assetChecksOrError") or {}).get("checks", []):
            latest = check.get("executionForLatestMaterialization") or {}
            checks.append(Check(name=check["name"], status=latest.get("status") or "NOT RUN"))
    runs = [
        Run(
            run_id=run["runId"],
            status=run["status"],
            start_time=run["startTime"],
            end_time=run["endTime"],
            batch=next((t["value"] for t in run["tags"] if t["key"] == "floe/batch-number"), None),
        )
        for run in data["runsOrError"].get("results", [])
    ]
    return quality, checks, runs


def build_summary(cube: CubeClient, dagster_url: str) -> Summary:
    orders, revenue, days = cube_figures(cube)
    with httpx.Client(timeout=10.0) as client:
        quality, checks, runs = dagster_figures(client, dagster_url)
    return Summary(
        orders=orders, revenue=revenue, days=days, quality=quality, checks=checks, runs=runs
    )


def create_app(cube: CubeClient, dagster_url: str) -> Starlette:
    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    def summary(request: Request) -> Response:  # sync: Starlette runs it in a thread
        try:
            found = build_summary(cube, dagster_url)
        except (CubeError, httpx.HTTPError, KeyError) as error:
            return JSONResponse({"error": f"{type(error).__name__}: {error}"}, status_code=502)
        return JSONResponse(found.model_dump(), headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/summary", summary),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )


def main() -> None:
    cube = CubeClient(
        os.environ.get(CUBE_URL_ENV, "http://cube:4000"), os.environ[CUBE_SECRET_ENV], timeout=10
    )
    app = create_app(cube, os.environ.get(DAGSTER_URL_ENV, "http://webserver:3000"))
    port = int(os.environ.get(PORT_ENV, "8050"))
    uvicorn.run(app, host=LISTEN_ON, port=port, log_level="warning")


if __name__ == "__main__":
    main()
