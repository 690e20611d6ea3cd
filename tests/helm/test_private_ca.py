"""One private CA, set once (`tls.caBundle`), reaches every TLS-speaking pod: the real renders
through the real dagster chart, and the run pod dagster-k8s's own K8sRunLauncher builds."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509

from floe_deploy.helm import pss
from floe_deploy.helm.ca_bundle import CA_VARIABLES, ca_errors, container_env
from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chosen_values, load_values
from floe_deploy.helm.run_pods import run_jobs
from floe_deploy.helm.smoke_values import smoke_values
from floe_deploy.helm.validate import validate_chart
from floe_deploy.helm.values_model import UmbrellaValues
from floe_deploy.settings import load_settings
from floe_deploy.tls import server_tls
from tests.helm.conftest import Renderer

pytestmark = pytest.mark.requirement("007-FR-057", evidence="real")

CA_FILE = "/etc/floe/ca/ca.crt"
EVERY_POD = {"cube": {"enabled": True, "cacheAndQueue": {"driver": "cubestore"}}}
PREFLIGHT_SETTINGS = ("FLOE_CA_BUNDLE",)


def prod(**overrides: Any) -> dict[str, Any]:
    values = load_values(CHART_DIR / "values-prod.yaml")
    return chosen_values(None, {**values, **EVERY_POD, **overrides})


def tls_of(values: dict[str, Any]) -> UmbrellaValues:
    return UmbrellaValues.model_validate(
        chosen_values(None, values, chart_dir=CHART_DIR, over_defaults=True)
    )


def containers(objects: list[RenderedObject]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(pod, pod spec, container) of every container of the render and of its run pods."""
    pods = [(o.label, pss.pod_spec(o.document)) for o in objects]
    pods += [(f"run pods of {r.location}", r.pod_spec) for r in run_jobs(objects)]
    return [(label, pod, c) for label, pod in pods if pod for c in pod.get("containers") or []]


def config_maps(objects: list[RenderedObject]) -> dict[str, dict[str, str]]:
    return {o.name: o.document.get("data") or {} for o in objects if o.kind == "ConfigMap"}


def test_prod_puts_the_bundle_and_its_variables_in_every_container(rendered: Renderer) -> None:
    objects = rendered(**prod())
    found = containers(objects)
    labels = {label for label, _, _ in found}
    assert {
        "Deployment/floe-dagster-webserver", "Deployment/floe-dagster-daemon",
        "Deployment/floe-dagster-user-deployments-floe-demo", "Deployment/floe-floe-cube",
        "StatefulSet/floe-floe-cubestore", "Job/floe-floe-preflight", "Job/floe-floe-migrate",
        "Job/floe-floe-rollback-check", "run pods of floe-demo",
    } <= labels  # fmt: skip
    for label, pod, container in found:
        volumes = {v["name"]: v for v in pod["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/floe/ca"]
        assert mount["readOnly"] is True, label
        assert volumes[mount["name"]]["configMap"] == {
            "name": "floe-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }, label  # fmt: skip
        env = container_env(container, config_maps(objects))
        assert {v: env.get(v) for v in CA_VARIABLES} == dict.fromkeys(CA_VARIABLES, CA_FILE), label
        if label == "Job/floe-floe-preflight":
            assert {v: env.get(v) for v in PREFLIGHT_SETTINGS} == dict.fromkeys(
                PREFLIGHT_SETTINGS, CA_FILE
            )
    assert ca_errors(tls_of(prod()).tls, objects, run_jobs(objects)) == []


def test_a_rendered_bundle_reaches_the_hooks_through_a_hook_copy(rendered: Renderer) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    values = prod(
        tls={"caBundle": {"configMapName": "floe-ca", "key": "ca.crt"}, "caBundlePem": pem}
    )
    objects = rendered(**values)
    maps = {o.name: o for o in objects if o.kind == "ConfigMap"}
    assert maps["floe-ca"].document["data"] == {"ca.crt": pem}
    hook = maps["floe-floe-ca-hook"].document
    assert hook["data"] == {"ca.crt": pem}
    assert "pre-install" in hook["metadata"]["annotations"]["helm.sh/hook"]
    hook_pods = {label: pod for label, pod, _ in containers(objects) if label.startswith("Job/")}
    assert set(hook_pods) == {
        "Job/floe-floe-preflight", "Job/floe-floe-migrate", "Job/floe-floe-rollback-check"
    }  # fmt: skip
    for pod in hook_pods.values():
        (volume,) = [v for v in pod["volumes"] if v["name"] == "floe-ca"]
        assert volume["configMap"]["name"] == "floe-floe-ca-hook"
    assert ca_errors(tls_of(values).tls, objects, run_jobs(objects)) == []


def remove(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("name") != name]


def test_a_daemon_without_the_mount_fails_naming_pod_and_what_is_missing(
    rendered: Renderer,
) -> None:
    values = prod()
    daemon = values["dagster"]["dagsterDaemon"]
    daemon["volumeMounts"] = remove(daemon["volumeMounts"], "floe-ca")
    objects = rendered(**values)
    errors = ca_errors(tls_of(values).tls, objects, run_jobs(objects))
    assert errors == [
        "Deployment/floe-dagster-daemon (container dagster): does not mount the CA bundle "
        "(configMap floe-ca, key ca.crt)"
    ]


def test_run_pods_without_the_variables_fail_helm_validate(rendered: Renderer) -> None:
    """Planted in runK8sConfig's launcher: the run pod dagster-k8s builds lacks the variables."""
    values = prod()
    launcher = values["dagster"]["runLauncher"]["config"]["k8sRunLauncher"]
    launcher["envConfigMaps"] = remove(launcher["envConfigMaps"], "floe-ca-env")
    report = validate_chart(load_settings(), ["prod"], sets=values)
    (checked,) = report.values_files
    missing = [e for e in checked.errors if e.startswith("run pods of floe-demo")]
    assert len(missing) == len(CA_VARIABLES)
    assert all("not the mounted bundle /etc/floe/ca/ca.crt" in e for e in missing)
    assert {e.split(": ")[1].split(" ")[0] for e in missing} == set(CA_VARIABLES)


def test_a_writable_mount_fails(rendered: Renderer) -> None:
    values = prod()
    run = values["dagster"]["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    mounts = run["containerConfig"]["volumeMounts"]
    run["containerConfig"]["volumeMounts"] = [
        {**m, "readOnly": False} if m["name"] == "floe-ca" else m for m in mounts
    ]
    objects = rendered(**values)
    assert ca_errors(tls_of(values).tls, objects, run_jobs(objects)) == [
        "run pods of floe-demo (container dagster): mounts the CA bundle writable (readOnly: true)"
    ]


@pytest.mark.parametrize("values_file", [None, "values-demo.yaml"])
def test_without_a_ca_nothing_changes(rendered: Renderer, values_file: str | None) -> None:
    objects = rendered(values_file, **EVERY_POD)
    assert not [
        o
        for o in objects
        if (o.document.get("metadata") or {}).get("name", "").startswith("floe-ca")
    ]
    for label, pod, container in containers(objects):
        assert "floe-ca" not in {v["name"] for v in pod.get("volumes") or []}, label
        assert not {m["mountPath"] for m in container.get("volumeMounts") or []} & {"/etc/floe/ca"}
        env = container_env(container, config_maps(objects))
        assert not set(env) & {*CA_VARIABLES, *PREFLIGHT_SETTINGS}, label


def test_the_dagster_wiring_without_the_ca_fails_naming_each_pod(rendered: Renderer) -> None:
    """prod's dagster values with tls.caBundle unset: the variables' ConfigMap is not rendered,
    so those pods could not start."""
    values = prod(tls={"caBundle": None})
    objects = rendered(**values)
    errors = ca_errors(tls_of(values).tls, objects, run_jobs(objects))
    assert {e.split(" (container")[0] for e in errors} == {
        "Deployment/floe-dagster-webserver", "Deployment/floe-dagster-daemon",
        "Deployment/floe-dagster-user-deployments-floe-demo", "run pods of floe-demo",
    }  # fmt: skip
    assert all("reads ConfigMap floe-ca-env, rendered only with tls.caBundle" in e for e in errors)


def test_the_smoke_renders_a_bundle_for_prods_ca(rendered: Renderer) -> None:
    """helm.smoke has no floe-ca ConfigMap beside the release: it has the chart render its own
    CA, the one that signed the servers it plays."""
    images = dict.fromkeys(("dagster", "postgres", "busybox", "cube"), "localhost/floe/x:1")
    smoke_ca = server_tls("floe-smoke-ca", ["postgres", "catalog"]).ca
    values = smoke_values(prod(), images, ca=smoke_ca)
    assert values["tls"]["caBundlePem"] == smoke_ca
    ca = x509.load_pem_x509_certificate(values["tls"]["caBundlePem"].encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    objects = rendered(**values)
    assert "floe-ca" in {o.name for o in objects if o.kind == "ConfigMap"}
    assert ca_errors(tls_of(values).tls, objects, run_jobs(objects)) == []


def test_a_secret_bundle_must_be_mounted_as_that_secret(rendered: Renderer) -> None:
    """tls.caBundle.secretName: the chart's own pods mount the Secret; prod's dagster wiring,
    still a ConfigMap of that name, is not the bundle, and each of its pods is named."""
    values = prod(tls={"caBundle": {"secretName": "floe-ca", "key": "ca.crt"}})
    objects = rendered(**values)
    cube = next(
        pod for label, pod, _ in containers(objects) if label == "Deployment/floe-floe-cube"
    )
    (volume,) = [v for v in cube["volumes"] if v["name"] == "floe-ca"]
    assert volume["secret"] == {
        "secretName": "floe-ca",
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }
    errors = ca_errors(tls_of(values).tls, objects, run_jobs(objects))
    assert {e.split(" (container")[0] for e in errors} == {
        "Deployment/floe-dagster-webserver", "Deployment/floe-dagster-daemon",
        "Deployment/floe-dagster-user-deployments-floe-demo", "run pods of floe-demo",
    }  # fmt: skip
    assert all(
        e.endswith("does not mount the CA bundle (secret floe-ca, key ca.crt)") for e in errors
    )
