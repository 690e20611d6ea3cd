"""helm.smoke against the real dagster chart: the rendered pods played with podman kube play.

Real: the dagster chart's templates (FLOE_DAGSTER_CHART or charts/), podman running every
rendered container with its command, args, env, mounts, user and security context, Postgres and
S3 from the project's images, Dagster's webserver, daemon, code server and a run pod built by
dagster-k8s from the rendered instance config, Cube, dagster-k8s's run monitoring, terminate and
debug information. Stand-in (a protocol stand-in for the Kubernetes API server, said so in the
report): the API dagster-k8s calls (Jobs, pods, logs, events), answering each pod with its own
ServiceAccount's token and checking every request against the rendered RBAC. Each failure a
cluster would show is planted and must be reported with its remediation. Prod's values play in
e2e/test_offline_install.py, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient
from ruamel.yaml import YAML

from floe_deploy import dagster_api
from floe_deploy.console import Console
from floe_deploy.helm.chart import CHART_DIR, chosen_values, load_values
from floe_deploy.helm.podman import Podman
from floe_deploy.helm.rendering import prepare_chart, render
from floe_deploy.helm.smoke import one_smoke_at_a_time
from floe_deploy.images.services import stack_images
from floe_deploy.settings import load_settings
from floe_deploy.testing import UPGRADE_REPORT, run_task

pytestmark = pytest.mark.requirement("007-FR-043", evidence="real")


MONITORING = [
    "--set", "dagster.dagsterDaemon.runMonitoring.pollIntervalSeconds=5",
    "--set", "dagster.dagsterDaemon.runMonitoring.startTimeoutSeconds=60",
]  # fmt: skip
"""Run monitoring lowered so that the lifecycle's runs take seconds, not minutes."""


def smoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[int, dict[str, Any]]:
    """`invoke helm.smoke --json ARGS`: its exit code and report (a smoke running in another
    test module's worker is waited for)."""
    done = run_task("helm.smoke", "--json", *args, env=env, timeout=timeout)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def nothing_left() -> None:
    """Every pod (in the host's image store and the pull store), the network and the pull
    store's images are gone; asked under the smoke lock, as a smoke of the other e2e worker may
    be playing."""
    with one_smoke_at_a_time(Console()):
        podman = Podman(load_settings().state_dir, network="floe-smoke")
        assert podman.leftovers() == []
        assert podman.try_("network", "exists", "floe-smoke").returncode != 0


def failed_workload(report: dict[str, Any]) -> dict[str, Any]:
    assert report["ok"] is False
    (failed,) = [w for w in report["workloads"] if not w["ready"]]
    return dict(failed)


def test_a_privileged_port_is_reported() -> None:
    code, report = smoke(
        "--set", "dagster.dagsterWebserver.service.port=80",
        "--set", "dagster.dagsterWebserver.readinessProbe.httpGet.port=80",
    )  # fmt: skip
    assert code == 3
    failed = failed_workload(report)
    assert failed["workload"].endswith("-webserver")
    assert "port" in failed["remediation"]
    assert failed["logs"]
    nothing_left()


def test_a_missing_mount_is_reported(tmp_path: Path) -> None:
    """The run pods' mount of the artifacts (runLauncher's runK8sConfig: what dagster-k8s gives
    every run pod) left out."""
    values = load_values(CHART_DIR / "values-demo.yaml")
    launcher = load_values(CHART_DIR / "values.yaml")["dagster"]["runLauncher"]
    container = launcher["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]
    container["volumeMounts"] = [
        m for m in container["volumeMounts"] if m["name"] != "floe-artifacts"
    ]
    values["dagster"] = {"runLauncher": launcher}
    path = tmp_path / "values.yaml"
    YAML().dump(values, path)
    code, report = smoke("--values", str(path))
    assert code == 3
    # The code server loads without the file (it is read when a run starts): the run fails,
    # and its pod's log names the missing file.
    assert report["run_status"] == "FAILURE"
    assert "/opt/floe/config/artifacts.json does not exist" in report["run_logs"]
    assert "not mounted" in report["error"]["remediation"]
    nothing_left()


def test_a_wrong_secret_key_is_reported() -> None:
    code, report = smoke(
        "--set",
        "dagster.dagsterWebserver.env[0].name=EXTRA,"
        "dagster.dagsterWebserver.env[0].valueFrom.secretKeyRef.name=floe-secrets,"
        "dagster.dagsterWebserver.env[0].valueFrom.secretKeyRef.key=no-such-key",
    )
    assert code == 3
    failed = failed_workload(report)
    assert failed["workload"].endswith("-webserver")
    assert "no-such-key" in failed["detail"]
    assert "Secret lacks a key" in failed["remediation"]
    nothing_left()


def test_a_doubled_entrypoint_is_reported(docker: DockerClient, tmp_path: Path) -> None:
    """The runtime image the smoke plays, with the ENTRYPOINT it must not have."""
    _, images = stack_images(load_settings(), ["dagster"], Console(json_mode=True), rebuild=False)
    (tmp_path / "Dockerfile").write_text(f'FROM {images["dagster"]}\nENTRYPOINT ["dagster"]\n')
    planted = "floe/dagster-entrypoint-planted:smoke"
    docker.build(tmp_path, tags=[planted], labels={"org.floe-deploy.e2e": "1"})
    try:
        code, report = smoke("--image", planted)
    finally:
        docker.image.remove(planted, force=True)
    assert code == 3
    failed = failed_workload(report)
    assert "user-deployments" in failed["workload"]
    assert "No such command 'dagster'" in failed["logs"]
    assert "ENTRYPOINT" in failed["remediation"]
    nothing_left()


@pytest.mark.requirement("007-FR-056", evidence="real")
def test_the_upgrade_to_the_next_release_keeps_data_and_history() -> None:
    """Release N (the runtime image with Dagster 1.9.3, the dagster chart's own version) played
    and proven, a run kept in flight, then `helm upgrade` to this checkout as docs/06's runbook
    says: the pre-upgrade hook stops the daemon and webserver through the API stand-in, checks
    that no daemon beats, migrates; every Deployment is replaced. Runs that had ended keep their
    status and event log; a run still under way (a schedule tick's) may end meanwhile but stays.
    The rollback leg: release N's pre-rollback hook refuses. The report is kept for
    `nox -s bench` (bench_helm_upgrade)."""
    code, report = smoke("--upgrade-from", "previous")
    UPGRADE_REPORT.parent.mkdir(parents=True, exist_ok=True)
    UPGRADE_REPORT.write_text(json.dumps(report, indent=2))
    assert code == 0, json.dumps(report.get("error") or report, indent=1)
    facts = report["upgrade"]
    assert facts["revision_before"] != facts["revision_after"]
    assert facts["migrate_runs"] == 1
    assert set(facts["revision_when_quiesced"].values()) == {facts["revision_before"]}
    assert len(facts["revision_when_quiesced"]) == 2, "daemon and webserver stopped first"
    ended = {r: s for r, s in facts["runs_before"].items() if s in dagster_api.FINISHED}
    assert ended, "release N's proving run had ended before the upgrade"
    assert {r: facts["runs_after"][r] for r in ended} == ended
    assert facts["runs_after"].keys() == facts["runs_before"].keys()
    assert facts["events_after"] == facts["events_before"]
    assert set(facts["snapshots_before"]) <= set(facts["snapshots_after"])
    assert facts["rows_after"] == facts["rows_before"] + facts["rows_added_since"]
    assert facts["rows_before"] > 0
    assert facts["inflight_status"] in dagster_api.FINISHED
    assert facts["new_run_status"] == "SUCCESS"
    assert facts["new_run_image"] == facts["to_image"]
    assert facts["rollback"].startswith("refused: ")
    assert "helm rollback" in facts["rollback"]
    print(f"\nupgrade: {json.dumps(facts, indent=1)}")


def test_demo_values_play_and_the_run_lifecycle_goes_through_the_api() -> None:
    """One smoke of the demo values: every pod ready, a run lands rows in Cube; then a run held
    past the lowered monitoring interval succeeds while monitoring reads its Job's status, a run
    terminated through the webserver ends CANCELED (its Job deleted, its pod stopped with
    SIGTERM), a run whose pod fails before its worker starts is failed by the start timeout with
    the pod's log in its event log; no request beyond the rendered RBAC."""
    code, report = smoke("--lifecycle", *MONITORING)
    assert code == 0, json.dumps(report, indent=1)
    assert report["ok"] is True
    assert [w["ready"] for w in report["workloads"]] == [True] * 4
    assert report["run_status"] == "SUCCESS"
    assert report["rows_in_cube"] > 0
    assert any("Kubernetes API: a stand-in" in s for s in report["substitutions"])
    checks = report["checks"]
    assert checks["a run longer than the monitoring interval"].startswith("ok: held 15 s past"), (
        checks
    )
    assert (
        "system:serviceaccount:floe:floe-dagster"
        in checks["a run longer than the monitoring interval"]
    )
    assert checks["a terminated run"].startswith("ok: CANCELED"), checks
    assert checks["a failed run pod's log in the run's event log"].startswith("ok: FAILURE"), checks
    assert report["forbidden"] == []
    assert any("checked against the rendered Roles" in s for s in report["substitutions"])
    print(f"\nseconds {report['seconds']}")
    nothing_left()


def test_a_missing_rbac_verb_fails_the_smoke_naming_verb_and_service_account(
    tmp_path: Path,
) -> None:
    """The dagster chart's own Role without `create` on jobs (its rbacEnabled Role swapped for
    the same Role, less that verb, through extraManifests): the daemon cannot launch the first
    run. (Terminate's `delete` is exercised by the lifecycle test above, and the fast tests plant
    a missing `delete` against the stand-in.)"""
    chart = prepare_chart(CHART_DIR, load_settings().dagster_chart)
    rendered = render(chosen_values("demo", {}, chart_dir=CHART_DIR, over_defaults=True), chart)
    role, binding = (
        next(o.document for o in rendered if o.kind == kind and o.name == name)
        for kind, name in (
            ("Role", "floe-dagster-role"),
            ("RoleBinding", "floe-dagster-rolebinding"),
        )
    )
    next(r for r in role["rules"] if r["resources"] == ["jobs"])["verbs"].remove("create")
    values = load_values(CHART_DIR / "values-demo.yaml")
    values["dagster"] = {"rbacEnabled": False, "extraManifests": [role, binding]}
    path = tmp_path / "values.yaml"
    YAML().dump(values, path)
    code, report = smoke("--values", str(path))
    assert code == 3, report
    message = report["error"]["message"]
    assert (
        'User "system:serviceaccount:floe:floe-dagster" cannot create resource "jobs" in API group "batch"'
        in message
    )
    assert report["forbidden"]
    assert "is forbidden" in report["forbidden"][0]
    assert report["run_status"] != "SUCCESS"
    assert "Role" in report["error"]["remediation"]
    nothing_left()
