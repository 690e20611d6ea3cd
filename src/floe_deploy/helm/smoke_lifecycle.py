"""What dagster-k8s does with a run after launching it, proven through the API stand-in
(`helm.smoke --lifecycle`): run monitoring reading a held run's Job status until it succeeds, a
terminate deleting the Job and its pod (the run ends CANCELED), and a run whose pod fails before
its worker starts getting the pod's log in its event log when the start timeout fails it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from floe_demo.config import HOLD_TAG
from floe_deploy import dagster_api
from floe_deploy.helm.chart import RenderedObject
from floe_deploy.helm.run_pods import instance_config
from floe_deploy.helm.smoke_jobs import JobMirror
from floe_deploy.helm.smoke_proof import follow_run
from floe_deploy.waiting import poll

TERMINATE_HOLD_S = 300
FAILING_POD_SAYS = "floe-smoke: this run pod fails before its run worker starts"
EVENTS_QUERY = """query Events($runId: ID!) { logsForRun(runId: $runId) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }"""


def run_monitoring(objects: list[RenderedObject]) -> dict[str, Any]:
    """The rendered instance's run_monitoring (empty when it is off)."""
    found = instance_config(objects).get("run_monitoring") or {}
    return dict(found) if found.get("enabled") else {}


def _job_name(run_id: str) -> str:
    return f"dagster-run-{run_id}"


def monitored_run(mirror: JobMirror, url: str, location: str, interval: float) -> str:
    """A run held past two monitoring intervals succeeds while monitoring reads its Job."""
    hold = int(interval * 2) + 5
    run_id, _ = dagster_api.submit_batch(url, location=location, hold_seconds=hold)
    status, _ = follow_run(mirror, url, run_id, timeout=hold + 300)
    reads = [
        r for r in mirror.requests()
        if r.get("name") == _job_name(run_id) and r.get("subresource") == "status"
        and r.get("code") == 200
    ]  # fmt: skip
    users = ", ".join(sorted({str(r["user"]) for r in reads}))
    if status == "SUCCESS" and reads:
        return (
            f"ok: held {hold} s past a {interval:g} s interval, SUCCESS; the Job's status read "
            f"{len(reads)} times by {users}"
        )
    return f"FAIL: run {run_id} ended {status} after {len(reads)} reads of its Job's status"


def terminated_run(mirror: JobMirror, url: str, location: str) -> str:
    """A held run terminated through the webserver ends CANCELED, its Job deleted and its pod
    stopped."""
    run_id = dagster_api.submit_run(url, {HOLD_TAG: str(TERMINATE_HOLD_S)}, location=location)

    def started() -> bool | None:
        mirror.sync()
        played = mirror.of_run(run_id)
        running = bool(played) and played[0].running_seen
        return True if running and dagster_api.run_status(url, run_id) == "STARTED" else None

    if not poll(started, timeout=180, interval=1.0):
        return f"FAIL: run {run_id} did not start within 180 s"
    try:
        dagster_api.terminate_run(url, run_id)
    except dagster_api.DagsterApiError as error:
        return f"FAIL: {error}"

    def ended() -> str | None:
        mirror.sync()
        if mirror.forbidden():
            return "FORBIDDEN"
        status = dagster_api.run_status(url, run_id)
        return status if status in dagster_api.FINISHED else None

    status = poll(ended, timeout=120, interval=1.0) or "TIMEOUT"
    directory = mirror.jobs / _job_name(run_id)
    job_left = (directory / "job.json").is_file()
    pod_left = (directory / "pod.json").is_file()
    if status == "CANCELED" and not job_left and not pod_left:
        return "ok: CANCELED; its Job deleted and its pod stopped (SIGTERM) through the API"
    return (
        f"FAIL: run {run_id} ended {status}"
        + (f" ({mirror.forbidden()[0]})" if mirror.forbidden() else "")
        + ("; its Job is still there" if job_left else "")
        + ("; its pod is still running" if pod_left else "")
    )


def run_events(url: str, run_id: str) -> list[str]:
    body = httpx.post(f"{url}/graphql", json={"query": EVENTS_QUERY,
                                             "variables": {"runId": run_id}}, timeout=10).json()  # fmt: skip
    events = ((body.get("data") or {}).get("logsForRun") or {}).get("events") or []
    return [str(e.get("message") or "") for e in events]


def failed_run_log(mirror: JobMirror, url: str, location: str, monitoring: dict[str, Any]) -> str:
    """A run whose pod fails before its worker starts: the start timeout fails the run with the
    debug information dagster-k8s gathers (the pod's status, last log lines and events)."""
    command = ["sh", "-c", f"echo {FAILING_POD_SAYS} >&2; exit 3"]
    tags = {"dagster-k8s/config": json.dumps({"container_config": {"command": command}})}
    run_id = dagster_api.submit_run(url, tags, location=location)
    timeout = (
        float(monitoring.get("start_timeout_seconds") or 180)
        + 2 * float(monitoring.get("poll_interval_seconds") or 120)
        + 60
    )
    status, _ = follow_run(mirror, url, run_id, timeout=timeout)
    failure = next(
        (m for m in run_events(url, run_id)
         if FAILING_POD_SAYS in m and "Last 25 log lines for container" in m), "",
    )  # fmt: skip
    if status == "FAILURE" and failure:
        return "ok: FAILURE; the run's event log shows its pod's status, log and events"
    return f"FAIL: run {run_id} ended {status}; its pod's log is not in its event log"
