"""Install, upgrade, toggles, rollback and uninstall of real renders (the real dagster chart),
applied as Helm applies them (floe_deploy.helm.object_lifecycle, Helm's documented hook and ownership
rules). A model, not a cluster: no API server can run here. The old hook design is planted to
show that the model catches what the issue describes."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest

from floe_deploy.helm.chart import RenderedObject, deep_merge
from floe_deploy.helm.object_lifecycle import (
    Cluster,
    LifecycleReport,
    hook_events,
    install,
    lifecycle_table,
    read_by_running_pods,
    uninstall,
    upgrade,
)
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-021", evidence="real")

EXTERNAL = {"secrets": {"externalSecret": {"enabled": True}}}
SEALED = {
    "secrets": {"sealedSecret": {"enabled": True, "encryptedData": {"POSTGRES_PASSWORD": "AgB1"}}},
    "preflight": {"sealedEncryptedData": {"POSTGRES_PASSWORD": "AgB2"}},
}


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for part in parts:
        result = deep_merge(result, deepcopy(part))
    return result


def preflight(enabled: bool) -> dict[str, Any]:
    return {"preflight": {"enabled": enabled}}


TOGGLES = {
    "preflight on, External Secrets": (merged(EXTERNAL, preflight(False)), merged(EXTERNAL, preflight(True))),
    "preflight off, External Secrets": (merged(EXTERNAL, preflight(True)), merged(EXTERNAL, preflight(False))),
    "preflight on, Sealed Secrets": (merged(SEALED, preflight(False)), merged(SEALED, preflight(True))),
    "preflight off, Sealed Secrets": (merged(SEALED, preflight(True)), merged(SEALED, preflight(False))),
    "External Secrets on, with preflight": (preflight(True), merged(EXTERNAL, preflight(True))),
    "Cube on": (merged(EXTERNAL, preflight(True)), merged(EXTERNAL, preflight(True), {"cube": {"enabled": True}})),
    "a new image tag": (merged(EXTERNAL, preflight(True)), merged(EXTERNAL, preflight(True), {"image": {"tag": "0.2.0"}})),
}  # fmt: skip


@pytest.mark.parametrize("toggle", list(TOGGLES))
def test_no_toggle_or_upgrade_deletes_what_a_pod_reads_or_fails_on_ownership(
    rendered: Renderer, toggle: str
) -> None:
    before_values, after_values = TOGGLES[toggle]
    before, after = rendered(**before_values), rendered(**after_values)
    cluster = Cluster()
    first = install(cluster, before)
    assert first.conflicts == []
    assert first.disrupted == []
    step = upgrade(cluster, before, after)
    assert step.conflicts == [], step.conflicts
    assert step.disrupted == [], [s for s in step.steps if "deleted" in s.action]
    back = upgrade(cluster, after, before, "rollback")
    assert back.conflicts == []
    assert back.disrupted == ROLLBACK_DISRUPTS.get(toggle, [])


ROLLBACK_DISRUPTS = {
    # Going back to a pre-existing Secret: the ExternalSecret leaves and takes its Secret along
    # (creationPolicy Owner). docs/06's runbook says to make the Secret after that step.
    "External Secrets on, with preflight": ["Secret/floe-secrets"],
}


def test_the_old_design_is_caught(rendered: Renderer) -> None:
    """The ExternalSecret as a pre-upgrade hook (what the chart did): every upgrade deletes the
    Secret the pods read, and turning the preflight off fails on ownership."""
    plain = rendered(**merged(EXTERNAL, preflight(True)))
    hooked = deepcopy(plain)
    for item in find(hooked, "ExternalSecret", "floe-secrets"):
        item.document["metadata"]["annotations"] = {
            "helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation",
        }  # fmt: skip
    cluster = Cluster()
    install(cluster, hooked)
    step = upgrade(cluster, hooked, hooked)
    assert "Secret/floe-secrets" in step.disrupted
    toggled = upgrade(cluster, hooked, plain)
    assert any("ExternalSecret/floe-secrets" in c and "ownership" in c for c in toggled.conflicts)


def test_the_preflight_reads_its_own_copy_never_the_release_secret(rendered: Renderer) -> None:
    for values in (merged(EXTERNAL, preflight(True)), merged(SEALED, preflight(True))):
        objects = rendered(**values)
        (job,) = find(objects, "Job", "preflight")
        sources = {
            c["envFrom"][0]["secretRef"]["name"]
            for c in job.document["spec"]["template"]["spec"]["containers"]
        }
        assert sources == {"floe-floe-preflight"}
        hooks = {o.label for o in objects if hook_events(o)}
        copies = {"ExternalSecret/floe-floe-preflight", "SealedSecret/floe-floe-preflight"}
        assert len(hooks & copies) == 1, hooks
        assert ("Secret", "floe-secrets") in read_by_running_pods(objects)


def test_configuration_objects_are_release_objects_argo_cd_diffs(rendered: Renderer) -> None:
    """Argo CD leaves hooks out of its diff: every object a running pod reads is a release object."""
    for values in (merged(EXTERNAL, preflight(True)), merged(SEALED, preflight(True))):
        objects = rendered("values-prod.yaml", **values)
        hooks = [o for o in objects if hook_events(o)]
        assert {o.kind for o in hooks} <= {"Job", "ExternalSecret", "SealedSecret",
                                           "ServiceAccount", "Role", "RoleBinding"}  # fmt: skip
        assert all(o.name.endswith(("-preflight", "-migrate", "-rollback-check")) for o in hooks)
        for kind in ("ConfigMap", "ExternalSecret", "SealedSecret"):
            for item in find(objects, kind):
                if not item.name.endswith("-preflight"):
                    assert not hook_events(item), item.label


def test_uninstall_leaves_nothing_after_a_passed_preflight(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml")
    cluster = Cluster()
    install(cluster, objects)
    upgrade(cluster, objects, objects)
    assert uninstall(cluster, objects).remaining == []


def test_a_failed_preflight_leaves_only_its_own_objects_for_inspection(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml")
    cluster = Cluster()
    failed = install(cluster, objects, hooks_succeed=False)
    assert set(failed.remaining) == {
        "ExternalSecret/floe-floe-preflight", "Secret/floe-floe-preflight", "Job/floe-floe-preflight",
    }  # fmt: skip
    retried = install(cluster, objects)
    assert retried.conflicts == []
    assert not any("preflight" in name for name in retried.remaining)


def test_a_sealed_secret_with_preflight_needs_the_preflight_copy(rendered: Renderer) -> None:
    values = merged(SEALED, preflight(True))
    del values["preflight"]["sealedEncryptedData"]
    with pytest.raises(Exception, match=r"preflight\.sealedEncryptedData"):
        rendered(**values)


def test_the_lifecycle_table_names_every_object(rendered: Renderer) -> None:
    objects: list[RenderedObject] = rendered("values-prod.yaml")
    rows = {row.object: row for row in lifecycle_table(objects)}
    assert set(rows) >= {o.label for o in objects}
    assert rows["Secret/floe-secrets"].made_as == "by ExternalSecret/floe-secrets"
    assert rows["ExternalSecret/floe-secrets"].upgrade == "patched in place"
    assert "hook-succeeded" in rows["Job/floe-floe-preflight"].install
    assert rows["Job/floe-floe-preflight"].uninstall == "gone already"


def test_uninstall_keeps_cube_stores_volume_and_says_so(rendered: Renderer) -> None:
    objects = rendered(
        "values-demo.yaml", cube={"replicas": 2, "cacheAndQueue": {"driver": "cubestore"}}
    )
    cluster = Cluster()
    install(cluster, objects)
    assert uninstall(cluster, objects).remaining == [
        "PersistentVolumeClaim/data-floe-floe-cubestore-0"
    ]
    rows = {row.object: row for row in lifecycle_table(objects)}
    assert (
        rows["PersistentVolumeClaim/data-floe-floe-cubestore-0"].uninstall
        == "kept (delete it yourself)"
    )


def test_the_docs_show_the_lifecycle_of_the_prod_render(rendered: Renderer) -> None:
    text = (Path(__file__).parents[2] / "docs" / "06-deployment-view.md").read_text()
    shown = text.split("<!-- lifecycle:start -->\n")[1].split("<!-- lifecycle:end -->")[0]
    expected = LifecycleReport(values="prod", rows=lifecycle_table(rendered("values-prod.yaml")))
    assert shown == expected.markdown(), (
        "regenerate: invoke helm.lifecycle --values prod --markdown"
    )
