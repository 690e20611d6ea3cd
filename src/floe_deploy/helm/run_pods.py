"""The Job a run of each code location becomes, built by dagster-k8s itself.

What run pods get is not what `runLauncher.config.k8sRunLauncher.runK8sConfig` says: dagster-k8s
merges the code location's container context (which the dagster chart renders into the code
server's environment) over the launcher's config, key by key. So the only trustworthy answer is
the one the K8sRunLauncher computes: it is given the rendered instance (dagster.yaml) and a run
whose origin carries the rendered container context, and launches it. The one substitution is
the Kubernetes batch API, which records the Job instead of sending it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.helm import pss
from floe_deploy.helm.chart import RenderedObject
from floe_deploy.yaml_read import parse_document

# A kubeconfig that is read, never contacted: the launcher loads one when it is built.
_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "unused", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "unused", "user": {"token": "unused"}}],
    "contexts": [{"name": "unused", "context": {"cluster": "unused", "user": "unused"}}],
    "current-context": "unused",
}


class RunJob(BaseModel):
    """The Job dagster-k8s would create for a run of one code location."""

    location: str
    job: dict[str, Any]

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.job["spec"]["template"]["spec"]
        return spec


class _RecordingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api: keeps the Job it is asked to create."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        self.jobs.append(body)
        return body


def instance_config(objects: list[RenderedObject]) -> dict[str, Any]:
    for item in objects:
        if item.kind == "ConfigMap" and item.name.endswith("-instance"):
            loaded: dict[str, Any] = parse_document(item.document["data"]["dagster.yaml"])
            return loaded
    return {}  # no Dagster instance rendered (e.g. the labelled stand-in chart): no run pods


def _code_servers(objects: list[RenderedObject]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(location, image, container context) of each rendered user-code Deployment."""
    found = []
    for item in objects:
        labels = item.document.get("metadata", {}).get("labels") or {}
        if item.kind != "Deployment" or labels.get("component") != "user-deployments":
            continue
        container = item.document["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        context = env.get("DAGSTER_CONTAINER_CONTEXT") or env.get(
            "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"
        )
        found.append(
            (
                str(labels.get("deployment")),
                str(env.get("DAGSTER_CURRENT_IMAGE") or container["image"]),
                json.loads(context) if context else None,
            )
        )
    return found


def run_jobs(objects: list[RenderedObject]) -> list[RunJob]:
    """One run Job per code location, as the rendered K8sRunLauncher would create it."""
    # Slow imports (about 4 s): helm.validate runs this in a worker process beside its checks.
    from dagster import DagsterInstance  # noqa: PLC0415
    from dagster._core.code_pointer import ModuleCodePointer  # noqa: PLC0415
    from dagster._core.launcher import LaunchRunContext  # noqa: PLC0415
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin  # noqa: PLC0415
    from dagster._core.storage.dagster_run import DagsterRun  # noqa: PLC0415
    from dagster_k8s import K8sRunLauncher  # noqa: PLC0415
    from kubernetes.client import ApiClient  # noqa: PLC0415

    launcher_config = instance_config(objects).get("run_launcher") or {}
    if launcher_config.get("class") != "K8sRunLauncher":
        return []
    jobs = []
    with tempfile.TemporaryDirectory(prefix="floe-run-pods-") as scratch:
        kubeconfig = Path(scratch) / "kubeconfig"
        kubeconfig.write_text(json.dumps(_KUBECONFIG))
        with DagsterInstance.local_temp(tempdir=scratch) as instance:
            for location, image, context in _code_servers(objects):
                batch = _RecordingBatchApi()
                launcher = K8sRunLauncher(
                    **{
                        **launcher_config.get("config", {}),
                        "load_incluster_config": False,
                        "kubeconfig_file": str(kubeconfig),
                        "k8s_client_batch_api": batch,
                    }
                )
                launcher.register_instance(instance)
                origin = JobPythonOrigin(
                    "a_job",
                    RepositoryPythonOrigin(
                        executable_path="python",
                        code_pointer=ModuleCodePointer(location, "defs", working_directory=None),
                        container_image=image,
                        container_context=context,
                    ),
                )
                run = instance.add_run(DagsterRun(job_name="a_job", job_code_origin=origin))
                launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
                (job,) = batch.jobs
                jobs.append(
                    RunJob(location=location, job=ApiClient().sanitize_for_serialization(job))
                )
    return jobs


def _asked_of_run_pods(dagster_values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    launcher = (dagster_values.get("runLauncher") or {}).get("config") or {}
    run = (launcher.get("k8sRunLauncher") or {}).get("runK8sConfig") or {}
    return {
        "pod": run.get("podSpecConfig") or {},
        "container": run.get("containerConfig") or {},
    }


COMPARED = {
    "pod": ("automountServiceAccountToken", "securityContext"),
    "container": ("resources", "securityContext"),
}


def run_pod_drift(dagster_values: dict[str, Any], run: RunJob) -> list[str]:
    """Where the built run pod differs from what runLauncher.config.k8sRunLauncher.runK8sConfig
    asks (a code location's container context overrides it key by key)."""
    asked = _asked_of_run_pods(dagster_values)
    built = {"pod": run.pod_spec, "container": run.pod_spec["containers"][0]}
    drift = []
    for level, keys in COMPARED.items():
        for key in keys:
            if key in asked[level] and built[level].get(key) != asked[level][key]:
                drift.append(
                    f"run pods of {run.location}: {key} is {built[level].get(key)!r}, not "
                    f"runK8sConfig's {asked[level][key]!r} (the code location's container context "
                    "overrides it: set includeConfigInLaunchedRuns.enabled=false on the deployment)"
                )
    return drift


def run_pod_errors(runs: list[RunJob], dagster_values: dict[str, Any]) -> list[str]:
    """What keeps the run pods of a render from being what runK8sConfig asks, restricted."""
    errors = []
    for run in runs:
        errors += run_pod_drift(dagster_values, run)
        errors += [
            f"run pods of {run.location} (as dagster-k8s builds them): {p}"
            for p in pss.workload_problems(run.job) or []
        ]
    return errors
