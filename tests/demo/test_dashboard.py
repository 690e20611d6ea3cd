"""The dashboard's server and page without the stack (the stack's e2e test renders it for real
in Chromium): its Dagster query is valid for the pinned Dagster, it serves only local files, and
a Cube that does not answer is a 502 with the reason, not a page of zeros."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from floe_demo.cube import CubeClient
from floe_demo.dashboard import DAGSTER_QUERY, STATIC, create_app
from floe_deploy.testing import free_port

pytestmark = pytest.mark.requirement("007-FR-050", evidence="plumbing")


def test_the_dagster_query_is_valid_for_the_pinned_dagster() -> None:
    # Dagster's GraphQL schema takes seconds to import: only the worker that runs this pays.
    from dagster_graphql.schema import create_schema  # noqa: PLC0415
    from graphql import parse, validate  # noqa: PLC0415

    assert validate(create_schema().graphql_schema, parse(DAGSTER_QUERY)) == []


def test_every_file_the_page_loads_is_served_by_the_dashboard() -> None:
    html = (STATIC / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, "the page loads no script or style"
    assert all(ref.startswith("/static/") for ref in references), references
    for name in ("index.html", "app.js", "style.css"):
        assert "http://" not in (STATIC / name).read_text().replace(
            "http://www.w3.org/2000/svg", ""
        )
        assert "https://" not in (STATIC / name).read_text()


def test_pages_are_served_and_an_unanswering_cube_is_a_502_with_its_reason() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    app = create_app(CubeClient(closed, "not-a-real-secret", timeout=2), closed)
    with TestClient(app) as client:
        assert client.get("/").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/healthz").text == "ok"
        summary = client.get("/api/summary")
    assert summary.status_code == 502
    assert "ConnectError" in summary.json()["error"]
    assert "not-a-real-secret" not in summary.text
