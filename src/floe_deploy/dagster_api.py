"""Dagster's GraphQL API, for every user of it (demo tasks, helm.smoke, tests, benchmarks): launch a
run, follow it, list runs."""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import BaseModel

from floe_demo.config import BATCH_TAG, HOLD_TAG, JOB_NAME, LOCATION_NAME
from floe_deploy import waiting

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

RUNS_QUERY = """
query DemoRuns($job: String!, $limit: Int!) {
  runsOrError(filter: {pipelineName: $job}, limit: $limit) {
    __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
}
"""


class DagsterApiError(Exception):
    """The webserver did not answer, or answered with an error."""


class RunSummary(BaseModel):
    run_id: str
    status: str
    start_time: float | None = None
    end_time: float | None = None
    batch_number: int | None = None


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    return host, int(port or 80)


def submit_run(
    url: str, tags: dict[str, str], job: str = JOB_NAME, location: str = LOCATION_NAME
) -> str:
    """Queue one run of the job; its run id."""
    from dagster_graphql import (  # noqa: PLC0415 (slow import, only where a run is launched)
        DagsterGraphQLClient,
        DagsterGraphQLClientError,
    )

    host, port = _host_port(url)
    try:
        return DagsterGraphQLClient(host, port_number=port).submit_job_execution(
            job, repository_location_name=location, tags=tags
        )
    except (DagsterGraphQLClientError, httpx.HTTPError, OSError) as error:
        raise DagsterApiError(f"launching {job} failed: {error}") from None


def submit_batch(
    url: str,
    batch_number: int | None = None,
    location: str = LOCATION_NAME,
    *,
    hold_seconds: int = 0,
) -> tuple[str, int]:
    """Queue one demo batch (default: now's epoch second as its number); (run id, batch number).
    With `hold_seconds` the run waits that long before it generates (a run kept in flight)."""
    number = batch_number if batch_number is not None else int(time.time())
    tags = {BATCH_TAG: str(number)} | ({HOLD_TAG: str(hold_seconds)} if hold_seconds else {})
    return submit_run(url, tags, location=location), number


def runs(url: str, limit: int = 20, job: str = JOB_NAME) -> list[RunSummary]:
    """The job's most recent runs, newest first."""
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/graphql",
            json={"query": RUNS_QUERY, "variables": {"job": job, "limit": limit}},
            timeout=10,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise DagsterApiError(f"the Dagster webserver at {url} did not answer: {error}") from None
    result = (body.get("data") or {}).get("runsOrError") or {}
    if result.get("__typename") != "Runs":
        raise DagsterApiError(f"listing runs failed: {result.get('message') or body.get('errors')}")
    summaries = []
    for run in result["results"]:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        number = tags.get(BATCH_TAG)
        summaries.append(
            RunSummary(
                run_id=run["runId"],
                status=run["status"],
                start_time=run["startTime"],
                end_time=run["endTime"],
                batch_number=int(number) if number and number.isdigit() else None,
            )
        )
    return summaries


def terminate_run(url: str, run_id: str) -> None:
    """Ask the webserver to terminate a run (its run launcher stops the run's worker)."""
    from dagster_graphql import (  # noqa: PLC0415 (slow import)
        DagsterGraphQLClient,
        DagsterGraphQLClientError,
    )

    host, port = _host_port(url)
    try:
        DagsterGraphQLClient(host, port_number=port).terminate_run(run_id)
    except (DagsterGraphQLClientError, httpx.HTTPError, OSError) as error:
        raise DagsterApiError(f"terminating run {run_id} failed: {error}") from None


def run_status(url: str, run_id: str) -> str:
    from dagster_graphql import DagsterGraphQLClient  # noqa: PLC0415 (slow import)

    host, port = _host_port(url)
    return str(DagsterGraphQLClient(host, port_number=port).get_run_status(run_id).value)


def wait_for_run(url: str, run_id: str, timeout: float = 120.0, poll: float = 0.1) -> str:
    """The run's final status (SUCCESS, FAILURE, CANCELED), or TIMEOUT."""

    def finished() -> str | None:
        status = run_status(url, run_id)
        return status if status in FINISHED else None

    return waiting.poll(finished, timeout=timeout, interval=poll) or "TIMEOUT"


def launch_and_wait(
    url: str, job: str, tags: dict[str, str], timeout: float = 120.0
) -> tuple[str, str, float]:
    """Submit a run and follow it; (run id, final status, seconds from launch to end)."""
    started = time.monotonic()
    run_id = submit_run(url, tags, job)
    status = wait_for_run(url, run_id, timeout)
    return run_id, status, time.monotonic() - started
