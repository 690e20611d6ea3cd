"""The chart's upgrade and rollback hooks (floe-migrate), rendered with the real dagster chart:
they name the Deployments the render has, run in Helm's order with the rights they need, and
the unsafe procedure they replace (the dagster chart's own migrate Job) is refused by
helm.validate and fails the lifecycle model's upgrade to a new image. What the hooks do at run
time: tests/preflight/test_migration.py (real Postgres) and `helm.smoke --upgrade-from` (e2e)."""

from __future__ import annotations

from typing import Any

import pytest

from floe_deploy.helm.chart import CHART_DIR, NAMESPACE, RenderedObject, deep_merge, load_values
from floe_deploy.helm.kube_rbac import Rbac, Request, service_account_user
from floe_deploy.helm.object_lifecycle import Cluster, hook_events, install, upgrade
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.helm.validate import check_values
from floe_deploy.settings import Settings
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-056", evidence="real")


def _hook(objects: list[RenderedObject], suffix: str) -> RenderedObject:
    (job,) = [o for o in find(objects, "Job") if o.name.endswith(suffix)]
    return job


def _weight(item: RenderedObject) -> int:
    return int(item.document["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


def _args(item: RenderedObject) -> list[str]:
    return list(item.document["spec"]["template"]["spec"]["containers"][0]["args"])


@pytest.mark.parametrize("values", [None, "values-demo.yaml", "values-prod.yaml"])
def test_the_migrate_hook_stops_the_rendered_daemon_and_webserver(
    rendered: Renderer, values: str | None
) -> None:
    objects = rendered(values, preflight={"enabled": True})
    migrate = _hook(objects, "-migrate")
    args = _args(migrate)
    deployments = {o.name for o in find(objects, "Deployment")}
    daemon = args[args.index("--daemon") + 1]
    webserver = args[args.index("--webserver") + 1]
    assert daemon.endswith("-daemon")
    assert daemon in deployments
    assert webserver.endswith("-webserver")
    assert webserver in deployments
    (role,) = [o for o in find(objects, "Role") if o.name.endswith("-migrate")]
    scale = next(r for r in role.document["rules"] if r["resources"] == ["deployments/scale"])
    assert set(scale["resourceNames"]) == {daemon, webserver}
    assert "patch" in scale["verbs"]
    volumes = migrate.document["spec"]["template"]["spec"]["volumes"]
    instance = next(v["configMap"]["name"] for v in volumes if v["name"] == "dagster-instance")
    assert instance in {o.name for o in find(objects, "ConfigMap")}


def test_hooks_run_in_helms_order(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", preflight={"enabled": True})
    migrate, preflight = _hook(objects, "-migrate"), _hook(objects, "-preflight")
    rollback = _hook(objects, "-rollback-check")
    assert hook_events(migrate) == {"pre-upgrade"}, "a first install has nothing to migrate"
    assert hook_events(rollback) == {"pre-rollback"}
    assert _weight(preflight) < _weight(migrate), "nothing stops before the preflight passed"
    for rbac in ("ServiceAccount", "Role", "RoleBinding"):
        (item,) = [o for o in find(objects, rbac) if o.name.endswith("-migrate")]
        assert {"pre-upgrade", "pre-rollback"} <= hook_events(item)
        assert _weight(item) < _weight(migrate)
    image = objects and migrate.document["spec"]["template"]["spec"]["containers"][0]["image"]
    webserver = next(o for o in find(objects, "Deployment") if o.name.endswith("-webserver"))
    assert image == webserver.document["spec"]["template"]["spec"]["containers"][0]["image"]
    assert migrate.document["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert rollback.document["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_an_upgrade_to_a_new_image_never_meets_an_immutable_job(rendered: Renderer) -> None:
    old = rendered("values-prod.yaml", image={"tag": "1.0.0"})
    new = rendered("values-prod.yaml", image={"tag": "1.1.0"})
    cluster = Cluster()
    install(cluster, old)
    assert not upgrade(cluster, old, new).conflicts


def _dagster_migrate_job(rendered: Renderer, tag: str) -> list[RenderedObject]:
    return rendered(
        "values-prod.yaml",
        image={"tag": tag},
        upgrade={"migrate": {"enabled": False}},
        dagster={"migrate": {"enabled": True},
                 "dagsterWebserver": {"image": {"tag": tag}},
                 "dagsterDaemon": {"image": {"tag": tag}}},
    )  # fmt: skip


def test_the_dagster_charts_migrate_job_fails_the_next_upgrade(rendered: Renderer) -> None:
    """The procedure the official chart documents, left enabled: a plain Job the release keeps."""
    old, new = _dagster_migrate_job(rendered, "1.0.0"), _dagster_migrate_job(rendered, "1.1.0")
    cluster = Cluster()
    install(cluster, old)
    conflicts = upgrade(cluster, old, new).conflicts
    assert any("instance-migrate" in c and "immutable" in c for c in conflicts), conflicts


def test_helm_validate_refuses_the_dagster_charts_migrate_job(helm_settings: Settings) -> None:
    planted: dict[str, Any] = {"dagster": {"migrate": {"enabled": True}}}
    errors = check_values(
        deep_merge(load_values(CHART_DIR / "values.yaml"), planted), SchemaStore(helm_settings)
    )
    assert any(e.startswith("dagster.migrate.enabled") and "immutable" in e for e in errors)
    assert not [
        e
        for e in check_values(load_values(CHART_DIR / "values.yaml"), SchemaStore(helm_settings))
        if "migrate" in e
    ]


def test_the_migrate_hooks_account_may_do_exactly_what_floe_migrate_does(
    rendered: Renderer,
) -> None:
    """Checked with the API stand-in's RBAC evaluation (Kubernetes' rules, over the rendered
    Roles and RoleBindings): what the hook calls is allowed, scaling anything else is not."""
    objects = rendered("values-prod.yaml")
    rbac = Rbac([o.document for o in objects], NAMESPACE)
    user = service_account_user(NAMESPACE, "floe-floe-migrate")

    def asks(verb: str, resource: str, name: str = "", subresource: str = "",
             group: str = "apps") -> str | None:  # fmt: skip
        return rbac.forbidden(Request(user=user, verb=verb, api_group=group, resource=resource,
                                      namespace=NAMESPACE, name=name, subresource=subresource))  # fmt: skip

    for deployment in ("floe-dagster-daemon", "floe-dagster-webserver"):
        assert asks("get", "deployments", deployment) is None
        assert asks("patch", "deployments", deployment, "scale") is None
    assert asks("list", "pods", group="") is None
    refused = asks("patch", "deployments", "floe-dagster-user-deployments-floe-demo", "scale")
    assert refused is not None
    assert "floe-floe-migrate" in refused
    assert asks("delete", "pods", "any", group="") is not None


def test_a_read_only_webserver_is_stopped_too(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", dagster={"dagsterWebserver": {"enableReadOnly": True}})
    args = _args(_hook(objects, "-migrate"))
    stopped = [args[i + 1] for i, a in enumerate(args) if a == "--webserver"]
    assert stopped == ["floe-dagster-webserver", "floe-dagster-webserver-read-only"]
    assert set(stopped) <= {o.name for o in find(objects, "Deployment")}
    (role,) = [o for o in find(objects, "Role") if o.name.endswith("-migrate")]
    for rule in role.document["rules"]:
        if rule["apiGroups"] == ["apps"]:
            assert set(stopped) <= set(rule["resourceNames"])


def test_argo_cd_runs_the_migration_after_the_preflight(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", preflight={"enabled": True})
    wave = "argocd.argoproj.io/sync-wave"
    migrate, preflight = _hook(objects, "-migrate"), _hook(objects, "-preflight")
    assert int(migrate.document["metadata"]["annotations"][wave]) > int(
        preflight.document["metadata"]["annotations"][wave]
    )
    spec = migrate.document["spec"]["template"]["spec"]
    (instance,) = [v for v in spec["volumes"] if v["name"] == "dagster-instance"]
    assert instance["configMap"]["optional"] is True, "a first Argo CD sync has no instance yet"
