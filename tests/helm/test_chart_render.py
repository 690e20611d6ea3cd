"""The umbrella chart rendered through the Helm Go SDK, asserting on objects as the dagster and
Airflow charts' own tests do: each toggle on and off, each values file, the hook Job, secrets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from floe_demo.config import CompiledArtifacts, record_artifacts_in_use
from floe_deploy.errors import FloeError
from floe_deploy.helm.ca_bundle import CA_VARIABLES
from floe_deploy.helm.chart import CHART_DIR, load_values
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-021", evidence="real")


def test_defaults_render_the_artifacts_and_storage_config_maps_only(rendered: Renderer) -> None:
    objects = rendered()
    own = {
        o.label: o for o in objects
        if "charts/dagster" not in o.template and not o.template.endswith("upgrade-hooks.yaml")
    }  # fmt: skip
    assert set(own) == {"ConfigMap/floe-artifacts", "ConfigMap/floe-storage-env"}
    artifacts = CompiledArtifacts.model_validate_json(
        own["ConfigMap/floe-artifacts"].document["data"]["artifacts.json"]
    )
    assert artifacts.demo.enabled is False
    assert artifacts.storage.bucket == "floe-warehouse"
    storage = own["ConfigMap/floe-storage-env"].document["data"]
    assert storage == {
        "AWS_ACCESS_KEY_ID": "floe",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    endpoint = rendered(artifacts={"storage": {"endpoint": "http://minio.storage:9000"}})
    (with_endpoint,) = find(endpoint, "ConfigMap", "storage-env")
    assert with_endpoint.document["data"]["AWS_ENDPOINT_URL_S3"] == "http://minio.storage:9000"


def test_artifacts_toggle_off_needs_the_mounts_gone_too(rendered: Renderer) -> None:
    """A pod mounting a ConfigMap nobody makes would wait forever: the render refuses."""
    with pytest.raises(FloeError, match="floe-demo mounts the ConfigMap floe-artifacts"):
        rendered(artifacts={"enabled": False})
    (deployment,) = load_values(CHART_DIR / "values.yaml")["dagster"]["dagster-user-deployments"][
        "deployments"
    ]
    deployment["volumes"] = [v for v in deployment["volumes"] if "configMap" not in v]
    deployment["env"] = []
    values: dict[str, Any] = {
        "artifacts": {"enabled": False},
        "dagster": {"dagster-user-deployments": {"deployments": [deployment]}},
    }
    with pytest.raises(FloeError, match="run pods mount the ConfigMap floe-artifacts"):
        rendered(**values)
    run = load_values(CHART_DIR / "values.yaml")["dagster"]["runLauncher"]
    pod = run["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
    pod["volumes"] = [v for v in pod["volumes"] if "configMap" not in v]
    values["dagster"]["runLauncher"] = run
    assert not find(rendered(**values), "ConfigMap", "artifacts")


def test_a_renamed_artifacts_config_map_must_be_the_one_mounted(rendered: Renderer) -> None:
    with pytest.raises(FloeError, match="mounts no ConfigMap other"):
        rendered(artifacts={"configMapName": "other"})


def test_the_code_server_restarts_when_the_artifacts_change(
    rendered: Renderer, tmp_path: Path
) -> None:
    """The liveness probe the chart renders, run with the real shell and sha256sum against the
    record the code location writes when it loads the artifacts (Helm cannot put the file's
    checksum on the dagster chart's pod template, so the server checks it itself)."""
    (code,) = find(rendered(), "Deployment", "floe-demo")
    container = code.document["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    probe = container["livenessProbe"]["exec"]["command"]
    record = tmp_path / "record"
    artifacts = tmp_path / "artifacts.json"
    artifacts.write_text('{"version": 1}')
    local = [part.replace(env["FLOE_ARTIFACTS_RECORD"], str(record)) for part in probe]

    def alive() -> bool:
        return subprocess.run(local, check=False).returncode == 0

    assert alive(), "no record yet (the server is still loading): alive"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOE_ARTIFACTS_RECORD", str(record))
        record_artifacts_in_use(artifacts)
    assert alive()
    artifacts.write_text('{"version": 1, "changed": true}')
    assert not alive()
    assert (
        container["livenessProbe"]["failureThreshold"] * container["livenessProbe"]["periodSeconds"]
        <= 120
    )


def test_user_code_mounts_the_artifacts_config_map(rendered: Renderer) -> None:
    (code,) = find(rendered(), "Deployment", "floe-demo")
    pod = code.document["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["floe-artifacts"]["configMap"]["name"] == "floe-artifacts"
    container = pod["containers"][0]
    assert {"name": "FLOE_ARTIFACTS", "value": "/opt/floe/config/artifacts.json"} in container[
        "env"
    ]
    assert {
        "name": "floe-artifacts",
        "mountPath": "/opt/floe/config",
        "readOnly": True,
    } in container["volumeMounts"]


def test_demo_settings_reach_the_code_location_configuration(rendered: Renderer) -> None:
    objects = rendered(
        demo={"enabled": True, "schedule": {"interval": "*/7 * * * *"}, "batchSize": 250,
              "dataQuality": {"nullRate": 0.1, "duplicateRate": 0.2, "lateArrivalRate": 0.3}},
    )  # fmt: skip
    (config_map,) = find(objects, "ConfigMap", "artifacts")
    demo = CompiledArtifacts.model_validate_json(config_map.document["data"]["artifacts.json"]).demo
    assert (demo.enabled, demo.schedule_interval, demo.batch_size) == (True, "*/7 * * * *", 250)
    quality = demo.data_quality
    assert (quality.null_rate, quality.duplicate_rate, quality.late_arrival_rate) == (0.1, 0.2, 0.3)


def test_demo_values_file_runs_every_five_minutes_with_cube(rendered: Renderer) -> None:
    objects = rendered("values-demo.yaml")
    (config_map,) = find(objects, "ConfigMap", "artifacts")
    demo = json.loads(config_map.document["data"]["artifacts.json"])["demo"]
    assert demo["enabled"] is True
    assert demo["schedule_interval"] == "*/5 * * * *"
    (cube,) = find(objects, "Deployment", "cube")
    env = {e["name"]: e for e in cube.document["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CUBEJS_API_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "floe-secrets",
        "key": "CUBEJS_API_SECRET",
    }
    (model,) = find(objects, "ConfigMap", "cube-model")
    assert "cube(`Orders`" in model.document["data"]["Orders.js"]
    assert find(objects, "Service", "cube")


def test_cube_keeps_cache_and_queue_in_memory_for_one_replica_only(rendered: Renderer) -> None:
    (cube,) = find(rendered("values-demo.yaml"), "Deployment", "cube")
    env = {
        e["name"]: e.get("value")
        for e in cube.document["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CUBEJS_CACHE_AND_QUEUE_DRIVER"] == "memory"
    with pytest.raises(FloeError, match=r"cacheAndQueue\.driver=cubestore"):
        rendered("values-demo.yaml", cube={"replicas": 2})


def test_cube_store_backs_more_than_one_replica(rendered: Renderer) -> None:
    objects = rendered(
        "values-demo.yaml", cube={"replicas": 2, "cacheAndQueue": {"driver": "cubestore"}}
    )
    (cube,) = find(objects, "Deployment", "cube")
    env = {
        e["name"]: e.get("value")
        for e in cube.document["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    (store,) = find(objects, "StatefulSet", "cubestore")
    (service,) = find(objects, "Service", "cubestore")
    assert env["CUBEJS_CACHE_AND_QUEUE_DRIVER"] == "cubestore"
    assert env["CUBEJS_CUBESTORE_HOST"] == service.name
    assert service.document["spec"]["ports"][0]["port"] == int(env["CUBEJS_CUBESTORE_PORT"])
    container = store.document["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.internal/floe/cubejs/cubestore:v1.3.23"
    assert {"name": "data", "mountPath": "/cube/data"} in container["volumeMounts"]


def test_cube_toggle_off(rendered: Renderer) -> None:
    assert not [o for o in rendered() if "cube" in o.name]


@pytest.mark.parametrize("enabled", [True, False])
def test_external_secret_toggle(rendered: Renderer, enabled: bool) -> None:
    objects = rendered(secrets={"externalSecret": {"enabled": enabled}})
    found = find(objects, "ExternalSecret")
    assert bool(found) is enabled
    if enabled:
        spec = found[0].document["spec"]
        assert spec["target"]["name"] == "floe-secrets"
        assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "floe"}
        keys = {item["secretKey"] for item in spec["data"]}
        assert {
            "postgresql-password",
            "POSTGRES_PASSWORD",
            "POLARIS_CLIENT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
        } <= keys


def test_external_secret_feeds_the_secret_the_dagster_chart_reads(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml")
    (external,) = find(objects, "ExternalSecret", "floe-secrets")
    (webserver,) = find(objects, "Deployment", "webserver")
    env = webserver.document["spec"]["template"]["spec"]["containers"][0]["env"]
    reference = next(e for e in env if e["name"] == "DAGSTER_PG_PASSWORD")["valueFrom"][
        "secretKeyRef"
    ]
    assert reference == {
        "name": external.document["spec"]["target"]["name"],
        "key": "postgresql-password",
    }


@pytest.mark.parametrize("enabled", [True, False])
def test_sealed_secret_toggle(rendered: Renderer, enabled: bool) -> None:
    objects = rendered(
        secrets={
            "sealedSecret": {
                "enabled": enabled,
                "encryptedData": {"POSTGRES_PASSWORD": "AgBy3i4OJSWK+PiTySYZZA=="},
            }
        }
    )
    found = find(objects, "SealedSecret")
    assert bool(found) is enabled
    if enabled:
        assert found[0].document["spec"]["encryptedData"] == {
            "POSTGRES_PASSWORD": "AgBy3i4OJSWK+PiTySYZZA=="
        }
        assert found[0].document["spec"]["template"]["metadata"]["name"] == "floe-secrets"


def test_preflight_hook_job(rendered: Renderer) -> None:
    objects = rendered(preflight={"enabled": True}, secrets={"externalSecret": {"enabled": True}})
    (job,) = find(objects, "Job", "preflight")
    annotations = job.document["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["argocd.argoproj.io/hook"] == "PreSync"
    container = job.document["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["floe-preflight"]
    assert container["args"][:3] == ["--json", "--strict", "--warnings-ok"]
    assert container["image"] == "registry.example.internal/floe/dagster:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FLOE_STORAGE__BUCKET"] == "floe-warehouse"
    assert env["FLOE_CATALOG__URI"] == "postgresql://floe@postgres:5432/floe"
    assert container["envFrom"] == [{"secretRef": {"name": "floe-floe-preflight"}}]
    (copy,) = find(objects, "ExternalSecret", "preflight")
    assert int(copy.document["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    assert copy.document["spec"]["target"]["name"] == "floe-floe-preflight"


def test_the_preflight_checks_dagsters_database_and_the_compute_host(rendered: Renderer) -> None:
    objects = rendered(
        "values-prod.yaml",
        artifacts={"compute": {"type": "trino", "host": "trino.data.svc", "port": 8080, "catalog": "iceberg"}},
    )  # fmt: skip
    (job,) = find(objects, "Job", "preflight")
    containers = {c["name"]: c for c in job.document["spec"]["template"]["spec"]["containers"]}
    main = {e["name"]: e.get("value") for e in containers["preflight"]["env"]}
    assert (main["FLOE_COMPUTE__HOST"], main["FLOE_COMPUTE__PORT"]) == ("trino.data.svc", "8080")
    assert main["FLOE_COMPUTE__CATALOG"] == "iceberg"
    assert main["FLOE_POSTGRES__DATABASE"] == "floe"
    dagster = {e["name"]: e.get("value") for e in containers["dagster-database"]["env"]}
    assert dagster == {
        "FLOE_POSTGRES__HOST": "floe-prod.postgres.example.internal", "FLOE_POSTGRES__PORT": "5432",
        "FLOE_POSTGRES__DATABASE": "dagster", "FLOE_POSTGRES__USER": "floe", "FLOE_POSTGRES__SSLMODE": "verify-full",
        **dict.fromkeys(("FLOE_CA_BUNDLE", *CA_VARIABLES), "/etc/floe/ca/ca.crt"),  # prod's private CA
    }  # fmt: skip
    assert containers["dagster-database"]["args"][-2:] == ["--check", "postgres"]


def test_preflight_hook_for_a_rest_catalog(rendered: Renderer) -> None:
    (job,) = find(rendered("values-prod.yaml"), "Job", "preflight")
    env = {
        e["name"]: e.get("value")
        for e in job.document["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["FLOE_CATALOG__TYPE"] == "rest"
    assert env["FLOE_CATALOG__URI"] == "https://polaris.data.svc:8181/api/catalog"
    assert env["POLARIS_CLIENT_ID"] == "floe-dagster"


def test_preflight_off_by_default(rendered: Renderer) -> None:
    """The only Jobs by default are the upgrade and rollback hooks (test_upgrade_hooks)."""
    assert {o.name for o in find(rendered(), "Job")} == {
        "floe-floe-migrate", "floe-floe-rollback-check",
    }  # fmt: skip


@pytest.mark.parametrize("enabled", [True, False])
def test_network_policies_toggle(rendered: Renderer, enabled: bool) -> None:
    objects = rendered(
        networkPolicy={"enabled": enabled, "ingressNamespaces": ["ingress-nginx"]},
        cube={"enabled": True},
    )
    policies = find(objects, "NetworkPolicy")
    assert len(policies) == (5 if enabled else 0)
    if enabled:
        (webserver,) = [p for p in policies if p.name.endswith("webserver-ingress")]
        source = webserver.document["spec"]["ingress"][0]["from"][0]
        assert source == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
        }


def test_no_source_listed_means_no_ingress_from_outside(rendered: Renderer) -> None:
    """An empty `from` admits every source: with no namespace listed, no rule may open the
    webserver or Cube, and every rendered rule names its sources."""
    objects = rendered(
        networkPolicy={"enabled": True, "ingressNamespaces": []}, cube={"enabled": True}
    )
    policies = find(objects, "NetworkPolicy")
    assert sorted(p.name.removeprefix("floe-floe-") for p in policies) == [
        "default-deny-ingress", "run-pods-deny-ingress", "within-release",
    ]  # fmt: skip
    for policy in policies:
        for rule in policy.document["spec"].get("ingress", []):
            assert rule.get("from"), policy.label


def test_egress_is_opt_in_and_lists_dns_and_the_destinations(rendered: Renderer) -> None:
    assert not [p for p in find(rendered(networkPolicy={"enabled": True}), "NetworkPolicy") if
                "Egress" in p.document["spec"]["policyTypes"]]  # fmt: skip
    objects = rendered(
        networkPolicy={"enabled": True, "egress": {"enabled": True, "destinations": [
            {"name": "postgres", "cidr": "10.20.0.0/16", "ports": [5432]},
            {"name": "s3", "cidr": "10.30.0.0/16", "ports": [443, 9000]},
        ]}},
    )  # fmt: skip
    policies = {p.name.removeprefix("floe-floe-"): p.document["spec"]
                for p in find(objects, "NetworkPolicy", "egress")}  # fmt: skip
    assert sorted(policies) == [
        "egress", "kubernetes-api-egress", "migrate-kubernetes-api-egress", "run-pods-egress",
    ]  # fmt: skip
    rules = policies["egress"]["egress"]
    assert policies["egress"]["policyTypes"] == ["Egress"]
    assert {"protocol": "UDP", "port": 53} in rules[1]["ports"]
    assert {"protocol": "TCP", "port": 53} in rules[1]["ports"]
    assert rules[2] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
                        "ports": [{"protocol": "TCP", "port": 5432}]}  # fmt: skip
    assert [p["port"] for p in rules[3]["ports"]] == [443, 9000]
    assert policies["run-pods-egress"]["egress"] == rules
    assert policies["kubernetes-api-egress"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
         "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
    ]  # fmt: skip


@pytest.mark.parametrize("values_file", ["values-prod.yaml", "values-demo.yaml"])
def test_every_budget_lets_a_drain_evict_a_pod_of_what_it_selects(
    rendered: Renderer, values_file: str
) -> None:
    """Each PodDisruptionBudget selects rendered workloads, and with the replicas the charts really
    render (the dagster chart: one code server per location) it allows at least one eviction."""
    objects = rendered(values_file, podDisruptionBudget={"enabled": True}, cube={"enabled": True})
    workloads = [o for o in objects if o.kind in {"Deployment", "StatefulSet"}]
    budgets = find(objects, "PodDisruptionBudget")
    assert budgets
    for budget in budgets:
        selector = budget.document["spec"]["selector"]["matchLabels"]
        selected = [
            w for w in workloads
            if selector.items() <= w.document["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        assert selected, f"{budget.label} selects nothing"
        for workload in selected:
            replicas = workload.document["spec"].get("replicas", 1)
            spec = budget.document["spec"]
            allowed = (
                min(int(spec["maxUnavailable"]), replicas)
                if "maxUnavailable" in spec
                else replicas - int(spec["minAvailable"])
            )
            assert allowed > 0, (
                f"{budget.label} blocks every drain of {workload.label} ({replicas} replica(s))"
            )


@pytest.mark.parametrize("enabled", [True, False])
def test_pod_disruption_budgets_toggle(rendered: Renderer, enabled: bool) -> None:
    budgets = find(rendered(podDisruptionBudget={"enabled": enabled}), "PodDisruptionBudget")
    assert {b.document["spec"]["selector"]["matchLabels"].get("component") for b in budgets} == (
        {"dagster-webserver", "user-deployments"} if enabled else set()
    )


def test_prod_values_turn_on_what_prod_needs(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml")
    kinds = {o.kind for o in objects}
    assert {"ExternalSecret", "Job", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert not find(objects, "Secret")
    (webserver,) = find(objects, "Deployment", "webserver")
    spec = webserver.document["spec"]
    assert spec["replicas"] == 2
    assert "podAntiAffinity" in spec["template"]["spec"]["affinity"]


@pytest.mark.parametrize(
    "values_file", ["values-prod.yaml", "../../gitops/environments/prod/values.yaml"]
)
def test_prod_pods_pull_with_the_registry_login_run_pods_included(
    rendered: Renderer, values_file: str
) -> None:
    """Every pod template prod renders (Dagster's, the code server's, Cube's, the preflight Job's)
    names the registry login, and the instance gives it to the run pods the launcher builds."""
    objects = rendered(values_file, cube={"enabled": True})
    templates = [o for o in objects if o.kind in {"Deployment", "StatefulSet", "Job"}]
    assert {o.kind for o in templates} >= {"Deployment", "Job"}
    for workload in templates:
        secrets = workload.document["spec"]["template"]["spec"].get("imagePullSecrets")
        assert secrets == [{"name": "floe-registry"}], workload.label
    (instance,) = [o for o in find(objects, "ConfigMap") if o.name.endswith("-instance")]
    dagster_yaml = instance.document["data"]["dagster.yaml"]
    assert "image_pull_secrets" in dagster_yaml
    assert "floe-registry" in dagster_yaml
    assert "max_concurrent_runs: 10" in dagster_yaml
    assert "retention:" in dagster_yaml
    assert "class: S3ComputeLogManager" in dagster_yaml
    (ingress,) = find(objects, "Ingress")
    assert ingress.api_version == "networking.k8s.io/v1"
    (webserver,) = find(objects, "Deployment", "webserver")
    container = webserver.document["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "floe-storage-env"}} in container["envFrom"]
