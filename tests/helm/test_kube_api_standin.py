"""The smoke's protocol stand-in for the Kubernetes API server, served over TLS on 127.0.0.1 with
the tokens and RBAC of the real dagster chart's render, driven by the `kubernetes` client through
dagster-k8s's own DagsterKubernetesClient exactly as the K8sRunLauncher drives it: create a run's
Job (the Job dagster-k8s builds from the rendered instance), read its status, find its pod, read
the pod's log and events, delete the Job and its pod; 401 for an unknown token, 403 with the API
server's message for a verb the rendered Role lacks. What the smoke writes as it plays the pod
(pod state, log, events, Job status) is written here as files, as smoke_jobs writes them."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from dagster_k8s.client import DagsterKubernetesClient, PatchedApiClient
from kubernetes.client.rest import ApiException

from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import RenderedObject
from floe_deploy.helm.kube_api_standin import REQUESTS, serve
from floe_deploy.helm.run_pods import run_jobs
from floe_deploy.helm.smoke_pods import PodPlayer
from floe_deploy.helm.smoke_services import api_standin_files
from tests.helm.conftest import Renderer

pytestmark = pytest.mark.requirement("007-FR-043", evidence="stand-in")

Client = Callable[[str], Any]
"""A DagsterKubernetesClient (untyped) for a token."""


def without_delete_on_jobs(objects: list[RenderedObject]) -> list[RenderedObject]:
    for item in objects:
        if item.kind == "Role" and item.name == "floe-dagster-role":
            next(r for r in item.document["rules"] if r["resources"] == ["jobs"])["verbs"].remove(
                "delete"
            )
    return objects


@pytest.fixture(params=["rendered", "missing delete"])
def standin(
    request: pytest.FixtureRequest, rendered: Renderer, tmp_path: Path
) -> Iterator[tuple[Client, dict[str, str], Path]]:
    """The stand-in serving on a free port; a client factory by ServiceAccount, the tokens, and
    the jobs directory."""
    objects = rendered("values-demo.yaml")
    if request.param == "missing delete":
        objects = without_delete_on_jobs(objects)
    tokens = api_standin_files(tmp_path, objects, host="127.0.0.1")
    server = serve(tmp_path / "kube-api", tmp_path / "jobs", "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def client(token: str) -> Any:
        config = kubernetes.client.Configuration()
        config.host = f"https://127.0.0.1:{server.server_address[1]}"
        config.ssl_ca_cert = str(tmp_path / "serviceaccount" / "default" / "ca.crt")
        config.api_key = {"authorization": f"bearer {token}"}  # as load_incluster_config sets it
        api = PatchedApiClient(configuration=config)
        return DagsterKubernetesClient(  # type: ignore[no-untyped-call]  # dagster-k8s is untyped
            batch_api=kubernetes.client.BatchV1Api(api), core_api=kubernetes.client.CoreV1Api(api),
            logger=logging.info, sleeper=lambda _: None, timer=lambda: 0.0,
        )  # fmt: skip

    yield client, tokens, tmp_path / "jobs"
    server.shutdown()
    server.server_close()


def played(jobs: Path, name: str, phase: str, exit_code: int | None) -> str:
    """What smoke_jobs writes for a Job's pod (its name): the pod, its log, events, Job status."""
    job = json.loads((jobs / name / "job.json").read_text())
    pod = f"{name}-x1y2z"
    state = {"running": {"startedAt": "2026-01-01T00:00:00Z"}} if exit_code is None else {
        "terminated": {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed"}}  # fmt: skip
    (jobs / name / "pod.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod, "namespace": "floe",
                     "labels": job["spec"]["template"]["metadata"]["labels"]},
        "spec": job["spec"]["template"]["spec"],
        "status": {"phase": phase, "containerStatuses": [
            {"name": "dagster", "state": state, "ready": exit_code is None, "restartCount": 0,
             "image": "", "imageID": ""}]},
    }))  # fmt: skip
    (jobs / name / "log").write_text(
        "".join(f"2026-01-01T00:00:0{i}.000000000+00:00 line {i}\n" for i in range(5))
    )
    (jobs / name / "events.json").write_text(json.dumps([
        {"metadata": {"name": "e1"}, "type": "Warning", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit",
         "involvedObject": {"kind": "Job", "name": name}},
        {"metadata": {"name": "e2"}, "type": "Normal", "reason": "Started",
         "message": "Started container dagster", "involvedObject": {"kind": "Pod", "name": pod}},
    ]))  # fmt: skip
    status = (
        {"active": 1} if exit_code is None else ({"failed": 1} if exit_code else {"succeeded": 1})
    )
    (jobs / name / "status.json").write_text(
        json.dumps(status | {"startTime": "2026-01-01T00:00:00Z"})
    )
    return pod


def body(error: ApiException) -> dict[str, Any]:
    return dict(json.loads(error.body))


def test_a_run_job_as_the_launcher_drives_it(
    standin: tuple[Client, dict[str, str], Path], rendered: Renderer
) -> None:
    client, tokens, jobs = standin
    dagster = client(tokens["floe-dagster"])
    (run,) = run_jobs(rendered("values-demo.yaml"))
    name = run.job["metadata"]["name"]
    dagster.create_namespaced_job_with_retries(body=run.job, namespace="floe")
    dagster.wait_for_job(name, "floe")
    assert dagster.get_job_status(name, "floe").active is None
    assert dagster.get_pods_in_job(name, "floe") == []
    pod = played(jobs, name, "Running", None)
    assert dagster.get_job_status(name, "floe").active == 1
    assert dagster.get_pod_names_in_job(name, "floe") == [pod]
    assert dagster.get_pod_by_name(pod, "floe").status.phase == "Running"
    assert dagster.retrieve_pod_logs(pod, "floe", tail_lines=2) == "line 3\nline 4\n"
    assert dagster.retrieve_pod_logs(pod, "floe", container_name="dagster", timestamps=True,
                                     tail_lines=1).startswith("2026-01-01T00:00:04")  # fmt: skip
    assert dagster.core_api.list_namespaced_pod("floe", label_selector="job-name=other").items == []
    played(jobs, name, "Failed", 3)
    status = dagster.get_job_status(name, "floe")
    assert (status.active, status.failed) == (None, 1)
    debug = dagster.get_pod_debug_info(pod, "floe")
    assert "Pod status: Failed" in debug
    assert "Terminated with exit code 3: Error" in debug
    assert "Last 25 log lines for container 'dagster':" in debug
    assert "line 4" in debug
    job_debug = dagster.get_job_debug_info(name, "floe")
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in job_debug
    assert "Started container" not in job_debug
    requests = [json.loads(line) for line in (jobs / REQUESTS).read_text().splitlines()]
    assert {(r["verb"], r["resource"], r["subresource"]) for r in requests} >= {
        ("create", "jobs", ""), ("list", "jobs", ""), ("get", "jobs", "status"),
        ("list", "pods", ""), ("get", "pods", ""), ("get", "pods", "log"), ("list", "events", ""),
    }  # fmt: skip
    assert {r["user"] for r in requests} == {"system:serviceaccount:floe:floe-dagster"}


def test_terminate_deletes_the_job_and_asks_its_pod_to_stop(
    standin: tuple[Client, dict[str, str], Path], rendered: Renderer, request: pytest.FixtureRequest
) -> None:
    client, tokens, jobs = standin
    dagster = client(tokens["floe-dagster"])
    (run,) = run_jobs(rendered("values-demo.yaml"))
    name = run.job["metadata"]["name"]
    dagster.create_namespaced_job_with_retries(body=run.job, namespace="floe")
    played(jobs, name, "Running", None)
    if "missing delete" in request.node.callspec.id:
        with pytest.raises(ApiException) as refused:
            dagster.delete_job(name, "floe")
        assert refused.value.status == 403
        assert body(refused.value)["message"] == (
            f'jobs.batch "{name}" is forbidden: User "system:serviceaccount:floe:floe-dagster" '
            'cannot delete resource "jobs" in API group "batch" in the namespace "floe"'
        )
        assert body(refused.value)["reason"] == "Forbidden"
        assert (jobs / name / "job.json").is_file()
        assert (jobs / name / "stop.json").is_file(), "dagster-k8s deletes the pods regardless"
        requests = [json.loads(line) for line in (jobs / REQUESTS).read_text().splitlines()]
        assert [r["message"] for r in requests if r["code"] == 403] == [
            body(refused.value)["message"]
        ]
        return
    assert dagster.delete_job(name, "floe") is True
    assert json.loads((jobs / name / "stop.json").read_text()) == {"gracePeriodSeconds": 30}
    assert dagster.get_job_status(name, "floe") is None
    assert dagster.get_pod_names_in_job(name, "floe"), "the pod is there until the smoke stops it"
    assert dagster.delete_job(name, "floe") is False


def test_a_wrong_token_is_401_and_another_account_is_403(
    standin: tuple[Client, dict[str, str], Path],
) -> None:
    client, tokens, _ = standin
    with pytest.raises(ApiException) as unknown:
        client("not-a-token").core_api.list_namespaced_pod("floe")
    assert unknown.value.status == 401
    with pytest.raises(ApiException) as refused:
        client(tokens["default"]).core_api.list_namespaced_pod("floe")
    assert refused.value.status == 403
    assert "system:serviceaccount:floe:default" in body(refused.value)["message"]
    allowed = client(tokens["floe-dagster-user-deployments-user-deployments"])
    assert allowed.core_api.list_namespaced_pod("floe").items == []


def test_each_played_pod_mounts_its_own_service_accounts_token(
    rendered: Renderer, tmp_path: Path
) -> None:
    objects = rendered("values-demo.yaml")
    pods = PodPlayer(tmp_path)
    tokens = api_standin_files(pods.run_dir, objects)
    accounts = {}
    for item in objects:
        if item.kind == "Deployment":
            spec = pods.kubelet_additions(item.document["spec"]["template"]["spec"])
            volume = next((v for v in spec["volumes"] if v["name"] == "kube-api-access"), None)
            if volume:
                token = (Path(volume["hostPath"]["path"]) / "token").read_text()
                accounts[item.name] = next(a for a, t in tokens.items() if t == token)
    assert accounts == {
        "floe-dagster-daemon": "floe-dagster",
        "floe-dagster-webserver": "floe-dagster",
        "floe-dagster-user-deployments-floe-demo": "floe-dagster-user-deployments-user-deployments",
    }
    with pytest.raises(FloeError, match='serviceaccount "nobody" not found'):
        pods.kubelet_additions({"serviceAccountName": "nobody", "containers": []})


def test_a_job_deleted_in_the_background_takes_its_pod_along(
    standin: tuple[Client, dict[str, str], Path], rendered: Renderer, request: pytest.FixtureRequest
) -> None:
    """dagster-k8s deletes a Job with the API's default policy (its pods orphaned, then deleted
    one by one); Background or Foreground deletes the pods with the Job."""
    client, tokens, jobs = standin
    dagster = client(tokens["floe-dagster"])
    (run,) = run_jobs(rendered("values-demo.yaml"))
    name = run.job["metadata"]["name"]
    dagster.create_namespaced_job_with_retries(body=run.job, namespace="floe")
    played(jobs, name, "Running", None)
    if "missing delete" in request.node.callspec.id:
        with pytest.raises(ApiException) as refused:
            dagster.batch_api.delete_namespaced_job(name, "floe", propagation_policy="Background")
        assert refused.value.status == 403
        assert not (jobs / name / "stop.json").exists()
        return
    dagster.batch_api.delete_namespaced_job(name, "floe", propagation_policy="Background")
    assert (jobs / name / "stop.json").is_file()
    assert not (jobs / name / "job.json").exists()
