"""helm.validate's checks, each shown to pass on the chart and to fail on a planted mistake:
the values schema (generated, typo-proof), the dagster subtree against the official chart's schema,
strict Kubernetes 1.29-1.34 and CRD schemas, Pod Security "restricted", and the uv.lock pin.

The Kubernetes API server and the CRD controllers cannot run here: objects are checked against
their published schemas (kubernetes-validate's bundle, the CRD catalog), not applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.helm.chart import CHART_DIR, RenderedObject, chart_metadata, locked_version
from floe_deploy.helm.rendering import PreparedChart
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.helm.validate import (
    KUBERNETES_VERSIONS,
    check_object,
    check_values,
    validate_chart,
)
from floe_deploy.helm.values_model import values_schema_text
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task
from tests.helm.conftest import Renderer, find


@pytest.mark.requirement("007-FR-017", evidence="real")
def test_dagster_dependency_is_pinned_to_the_locked_dagster() -> None:
    (dependency,) = chart_metadata()["dependencies"]
    assert dependency["name"] == "dagster"
    assert dependency["repository"] == "https://dagster-io.github.io/helm"
    assert str(dependency["version"]) == locked_version("dagster")


@pytest.mark.requirement("007-FR-018", evidence="real")
def test_committed_values_schema_is_generated_from_the_models() -> None:
    assert (CHART_DIR / "values.schema.json").read_text() == values_schema_text()


@pytest.mark.requirement("007-FR-018", evidence="real")
@pytest.mark.parametrize(
    "override",
    [{"demo": {"batchsize": 5}}, {"preflight": {"enable": True}}, {"replicas": 2},
     {"containerSecurityContext": {"allowPrivilegeEscalation": True}}],
)  # fmt: skip
def test_schema_rejects_typos_and_unsafe_values(
    rendered: Renderer, override: dict[str, Any]
) -> None:
    with pytest.raises(FloeError, match="values rejected by the chart's schema"):
        rendered(**override)


@pytest.mark.requirement("007-FR-018", evidence="real")
def test_dagster_subtree_is_checked_against_the_official_schema(helm_settings: Settings) -> None:
    store = SchemaStore(helm_settings)
    assert check_values({"dagster": {"dagsterWebserver": {"replicaCount": "two"}}}, store)[
        0
    ].startswith("dagster.dagsterWebserver.replicaCount")
    wrong_type = {"dagster": {"runLauncher": {"type": "NoSuchLauncher"}}}
    assert any("runLauncher.type" in e for e in check_values(wrong_type, store))


@pytest.mark.requirement("007-FR-019", evidence="stand-in")
@pytest.mark.requirement("007-FR-020", evidence="stand-in")
def test_every_values_file_validates_on_every_version(
    real_chart: PreparedChart, helm_settings: Settings
) -> None:
    """With the real dagster chart: nothing fails; the one rule its init containers cannot meet
    (no volumeMounts for a writable /tmp) is a warning naming the chart's gap."""
    report = validate_chart(helm_settings)
    assert (
        report.kubernetes_versions
        == list(KUBERNETES_VERSIONS)
        == ["1.29", "1.30", "1.31", "1.32", "1.33", "1.34"]
    )
    assert {v.values for v in report.values_files} == {"default", "prod", "demo"}
    assert [d.stand_in for d in report.dependencies] == [False]
    assert report.schema_refs_embedded > 0
    warnings = [w for o in report.objects for w in o.warnings]
    assert warnings
    assert all("/tmp" in w and "chart gap" in w for w in warnings)
    problems = [(o.object, o.schema_errors, o.pss_errors) for o in report.objects if not o.ok]
    assert problems == []
    assert [v.errors for v in report.values_files] == [[], [], []]
    prod_workloads = [o for o in report.objects if o.values == "prod" and o.pss_errors is not None]
    assert {o.object.split("/")[0] for o in prod_workloads} == {"Deployment", "Job"}


@pytest.mark.requirement("007-FR-019", evidence="stand-in")
def test_an_unknown_field_fails_strict_kubernetes_validation(
    rendered: Renderer, helm_settings: Settings
) -> None:
    (cube,) = find(
        rendered(cube={"enabled": True, "affinity": {"podAntiAffinty": {}}}), "Deployment", "cube"
    )
    check = check_object(cube, SchemaStore(helm_settings), "test")
    assert len(check.schema_errors) == len(KUBERNETES_VERSIONS)
    assert all("podAntiAffinty" in error for error in check.schema_errors)


@pytest.mark.requirement("007-FR-019", evidence="stand-in")
def test_custom_resources_are_checked_against_their_crd(
    rendered: Renderer, helm_settings: Settings
) -> None:
    store = SchemaStore(helm_settings)
    (external,) = find(rendered(secrets={"externalSecret": {"enabled": True}}), "ExternalSecret")
    assert check_object(external, store, "t").schema_checked == "CRD external-secrets.io/v1"
    assert check_object(external, store, "t").schema_errors == []
    broken = json.loads(json.dumps(external.document))
    broken["spec"]["refreshIntervall"] = "1h"
    errors = check_object(RenderedObject(template="t", document=broken), store, "t").schema_errors
    assert errors
    assert "refreshIntervall" in errors[0]


def test_a_kind_without_a_schema_is_an_error(helm_settings: Settings) -> None:
    monitor = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    check = check_object(
        RenderedObject(template="t", document=monitor), SchemaStore(helm_settings), "t"
    )
    assert check.schema_errors
    assert "no schema for example.com/v1 Widget" in check.schema_errors[0]


@pytest.mark.requirement("007-FR-020", evidence="stand-in")
@pytest.mark.parametrize(
    ("component", "change", "expected"),
    [
        (
            "dagsterWebserver",
            {"securityContext": {"readOnlyRootFilesystem": False}},
            "readOnlyRootFilesystem",
        ),
        ("dagsterDaemon", {"securityContext": {"runAsUser": 0}}, "runAsUser is 0"),
        ("dagsterWebserver", {"resources": {"limits": None}}, "no limits"),
    ],
)
def test_dagster_workloads_must_stay_restricted(
    helm_settings: Settings, component: str, change: dict[str, Any], expected: str
) -> None:
    from floe_deploy.helm.chart import deep_merge, load_values  # noqa: PLC0415

    merged = deep_merge(load_values(CHART_DIR / "values.yaml"), {"dagster": {component: change}})
    errors = check_values(merged, SchemaStore(helm_settings))
    assert any(expected in error and "dagster workloads" in error for error in errors), errors


def test_a_secret_name_mismatch_is_caught(helm_settings: Settings) -> None:
    from floe_deploy.helm.chart import deep_merge, load_values  # noqa: PLC0415

    merged = deep_merge(
        load_values(CHART_DIR / "values.yaml"), {"secrets": {"secretName": "other"}}
    )
    errors = check_values(merged, SchemaStore(helm_settings))
    assert any("postgresqlSecretName" in e for e in errors)
    assert any("does not mount" not in e for e in errors)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["helm.validate", "--values", "nope.yaml"], "values file 'nope.yaml' does not exist"),
        (["helm.template", "--set", "a..b=1"], "is malformed"),
        (["helm.template", "--set", "novalue"], "is not key=value"),
        (["helm.template", "--set", "demo.batchsize=3"], "values rejected by the chart's schema"),
        (["helm.deps", "--mirror", "http://x"], "is not an oci:// reference"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_task(*args)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


def test_missing_dependency_names_the_mirror_option(tmp_path: Path) -> None:
    done = run_task("helm.validate", "--chart", str(CHART_DIR.parent / "nonexistent"))
    assert done.returncode != 0
    import shutil  # noqa: PLC0415

    bare = tmp_path / "floe-dagster"
    shutil.copytree(CHART_DIR, bare, ignore=shutil.ignore_patterns("charts"))
    done = run_task("helm.validate", "--chart", str(bare), env={"FLOE_DAGSTER_CHART": ""})
    assert done.returncode == 2
    assert "helm.deps --mirror" in done.stderr
    assert "FLOE_DAGSTER_CHART" in done.stderr
