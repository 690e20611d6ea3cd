"""The proof that the played platform works, beyond its pods being ready: the code locations of
the rendered workspace loaded over gRPC, a run launched through the K8sRunLauncher (its Jobs
played) succeeding, its rows answered by Cube, its step logs in S3.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from floe_demo.cube import CubeClient, CubeError
from floe_deploy import dagster_api
from floe_deploy.helm.chart import RenderedObject
from floe_deploy.helm.run_pods import instance_config
from floe_deploy.helm.smoke_jobs import JobMirror
from floe_deploy.waiting import poll
from floe_deploy.yaml_read import parse_document

RUN_TIMEOUT_S = 300.0


def code_locations(objects: list[RenderedObject]) -> list[str]:
    """The code location names of the rendered workspace (one per user deployment)."""
    for item in objects:
        if item.kind == "ConfigMap" and item.name.endswith("-workspace-yaml"):
            workspace = parse_document(item.document["data"]["workspace.yaml"])
            return [e["grpc_server"]["location_name"] for e in workspace.get("load_from") or []]
    return []


def location_status(url: str, location: str) -> str:
    """`ok` when the webserver has loaded `location` over gRPC; else FAIL and why."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name
      loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    try:
        body = httpx.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
    except (httpx.HTTPError, ValueError) as error:
        return f"FAIL: {error}"
    for entry in body["data"]["workspaceOrError"].get("locationEntries", []):
        if entry["name"] == location:
            kind = entry["locationOrLoadError"]["__typename"]
            return "ok" if kind == "RepositoryLocation" else f"FAIL: {entry['locationOrLoadError']}"
    return f"FAIL: no location {location} in the workspace"


def follow_run(
    mirror: JobMirror, url: str, run_id: str, timeout: float = RUN_TIMEOUT_S
) -> tuple[str, str]:
    """Keep the run's Jobs played and current until the run ends; its final status, and its
    pods' last log lines when it did not succeed."""

    def step() -> str | None:
        mirror.sync()
        status = dagster_api.run_status(url, run_id)
        return status if status in dagster_api.FINISHED else None

    status = poll(step, timeout=timeout, interval=1.0) or "TIMEOUT"
    mirror.sync()
    if status == "SUCCESS":
        return status, ""
    return status, "\n".join(
        mirror.pods.podman.logs(container, lines=40)
        for played in mirror.of_run(run_id)
        for container in played.containers.values()
    )


def s3_compute_logs(objects: list[RenderedObject]) -> tuple[str, str] | None:
    """(bucket, prefix) where the rendered instance keeps step logs, if in S3."""
    manager = instance_config(objects).get("compute_logs") or {}
    if manager.get("class") != "S3ComputeLogManager":
        return None
    config = manager.get("config") or {}
    return str(config["bucket"]), str(config.get("prefix") or "dagster")


def objects_under(client: Any, bucket: str, prefix: str) -> int:
    """How many objects the run's step logs left (uploaded as each step ends; waited for)."""

    def count() -> int | None:
        return len(client.list_objects(Bucket=bucket, Prefix=prefix).get("Contents") or []) or None

    return poll(count, timeout=30, interval=1) or 0


def cube_rows(cube_url: str, secret: str) -> int:
    """How many orders Cube answers for; 0 when for a minute it errs or answers none."""

    @retry(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True,
           retry=retry_if_exception_type((CubeError, AssertionError, httpx.HTTPError)))  # fmt: skip
    def rows() -> int:
        count = CubeClient(cube_url, secret, timeout=10).order_count()
        assert count > 0
        return count

    try:
        return rows()
    except (CubeError, AssertionError, httpx.HTTPError):
        return 0
