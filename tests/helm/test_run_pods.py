"""Run pods as dagster-k8s builds them: the real dagster chart's render (instance ConfigMap and
the code server's container context) given to dagster-k8s's own K8sRunLauncher, which launches
a run; only the Kubernetes batch API is a recorder (plumbing), so the Job is what it would send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from floe_deploy.helm import pss
from floe_deploy.helm.chart import CHART_DIR, deep_merge, load_values
from floe_deploy.helm.run_pods import run_jobs, run_pod_drift
from floe_deploy.helm.validate import validate_chart
from floe_deploy.settings import load_settings
from tests.helm.conftest import Renderer

pytestmark = pytest.mark.requirement("007-FR-021", evidence="stand-in")

PROD_FILES = ["values-prod.yaml", "../../gitops/environments/prod/values.yaml"]


def asked(values_file: str) -> dict[str, Any]:
    values = deep_merge(
        load_values(CHART_DIR / "values.yaml"), load_values(CHART_DIR / values_file)
    )
    run: dict[str, Any] = values["dagster"]["runLauncher"]["config"]["k8sRunLauncher"][
        "runK8sConfig"
    ]
    return run


@pytest.mark.parametrize("values_file", PROD_FILES)
def test_prod_run_pods_carry_prods_resources_and_no_token(
    rendered: Renderer, values_file: str
) -> None:
    (run,) = run_jobs(rendered(values_file))
    pod = run.pod_spec
    (container,) = pod["containers"]
    wanted = asked(values_file)
    assert container["resources"] == wanted["containerConfig"]["resources"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == wanted["podSpecConfig"]["securityContext"]
    assert container["securityContext"] == wanted["containerConfig"]["securityContext"]
    assert pss.workload_problems(run.job) == []
    assert pod["imagePullSecrets"] == [{"name": "floe-registry"}]
    assert {"configMapRef": {"name": "floe-storage-env"}} in container["envFrom"], "S3 step logs"


@pytest.mark.parametrize("values_file", [*PROD_FILES, "values-demo.yaml"])
def test_run_pods_read_the_artifacts_and_the_secret(rendered: Renderer, values_file: str) -> None:
    (run,) = run_jobs(rendered(values_file))
    (container,) = run.pod_spec["containers"]
    assert {"name": "FLOE_ARTIFACTS", "value": "/opt/floe/config/artifacts.json"} in container[
        "env"
    ]
    assert {"secretRef": {"name": "floe-secrets"}} in container["envFrom"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in run.pod_spec["volumes"]}
    assert volumes[mounts["/opt/floe/config"]]["configMap"]["name"] == "floe-artifacts"
    assert run.job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0")


def test_a_code_location_passing_its_context_overrides_run_pods_and_is_caught(
    rendered: Renderer,
) -> None:
    """The dagster chart's default: the code server's resources and automount: true win."""
    values = load_values(CHART_DIR / "values-prod.yaml")
    values["dagster"]["dagster-user-deployments"]["deployments"][0][
        "includeConfigInLaunchedRuns"
    ] = {"enabled": True}
    (run,) = run_jobs(rendered(**values))
    assert run.pod_spec["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert run.pod_spec["automountServiceAccountToken"] is True
    drift = run_pod_drift(values["dagster"], run)
    assert any("resources" in d and "includeConfigInLaunchedRuns" in d for d in drift)
    assert any("automountServiceAccountToken" in d for d in drift)


def test_no_k8s_run_launcher_no_run_pods(rendered: Renderer) -> None:
    custom = {"module": "dagster", "class": "DefaultRunLauncher", "config": {}}
    values = {
        "dagster": {
            "runLauncher": {"type": "CustomRunLauncher", "config": {"customRunLauncher": custom}}
        }
    }
    assert run_jobs(rendered(**values)) == []


def test_helm_validate_fails_when_run_pods_drift(tmp_path: Path) -> None:
    """The same check as helm.validate runs it (dagster-k8s in its worker process)."""
    values = load_values(CHART_DIR / "values-prod.yaml")
    values["dagster"]["dagster-user-deployments"]["deployments"][0][
        "includeConfigInLaunchedRuns"
    ] = {"enabled": True}
    path = tmp_path / "drifting.yaml"
    YAML().dump(values, path)
    report = validate_chart(load_settings(), [str(path)])
    (checked,) = report.values_files
    assert any("automountServiceAccountToken" in e for e in checked.errors), checked.errors
    assert not report.ok
