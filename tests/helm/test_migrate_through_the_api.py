"""floe-migrate's stop and restore of Deployments, driven by the real `kubernetes` client as in
the chart's migrate hook, against the smoke's protocol stand-in for the Kubernetes API server
(TLS, the hook's own ServiceAccount token, the rendered RBAC of the real chart). The pods going
away is the smoke's part (smoke_upgrade.PlayedState), done here by a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.kube_api_standin import DEPLOYMENTS, serve
from floe_deploy.helm.smoke_services import api_standin_files
from floe_preflight import migration
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-056", evidence="stand-in")


def _deployment(objects: list[RenderedObject], suffix: str) -> RenderedObject:
    return next(o for o in find(objects, "Deployment") if o.name.endswith(suffix))


@pytest.fixture
def api(rendered: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in with the prod render's daemon played (one pod); the hook's clients point at
    it with the migrate ServiceAccount's token. Yields the stand-in's jobs directory."""
    objects = rendered("values-prod.yaml")
    tokens = api_standin_files(tmp_path, objects, host="127.0.0.1")
    jobs = tmp_path / "jobs"
    (jobs / DEPLOYMENTS).mkdir(parents=True, exist_ok=True)
    for item in (_deployment(objects, "-daemon"), _deployment(objects, "-floe-demo")):
        document = json.loads(json.dumps(item.document))
        document["metadata"]["namespace"] = NAMESPACE
        (jobs / DEPLOYMENTS / f"{item.name}.json").write_text(json.dumps(document))
        pod = jobs / f"deployment-pod-{item.name}"
        pod.mkdir()
        labels = item.document["spec"]["template"]["metadata"]["labels"]
        (pod / "pod.json").write_text(json.dumps({
            "apiVersion": "v1", "kind": "Pod", "spec": {"containers": []},
            "metadata": {"name": f"{item.name}-0", "namespace": NAMESPACE, "labels": labels},
        }))  # fmt: skip
    server = serve(tmp_path / "kube-api", jobs, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = kubernetes.client.Configuration()
    config.host = f"https://127.0.0.1:{server.server_address[1]}"
    config.ssl_ca_cert = str(tmp_path / "serviceaccount" / "floe-floe-migrate" / "ca.crt")
    config.api_key = {"authorization": f"bearer {tokens['floe-floe-migrate']}"}
    client = kubernetes.client.ApiClient(config)
    apis = (kubernetes.client.AppsV1Api(client), kubernetes.client.CoreV1Api(client))
    monkeypatch.setattr(migration, "_apis", lambda: apis)
    stop = threading.Event()

    def kubelet() -> None:
        while not stop.wait(0.1):
            for request in (jobs / DEPLOYMENTS).glob("*.scale"):
                if request.read_text().strip() == "0":
                    pod = jobs / f"deployment-pod-{request.stem}" / "pod.json"
                    pod.unlink(missing_ok=True)
                request.unlink()

    threading.Thread(target=kubelet, daemon=True).start()
    yield jobs
    stop.set()
    server.shutdown()
    server.server_close()


def _stored(jobs: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((jobs / DEPLOYMENTS / f"{name}.json").read_text()))


def test_the_hook_stops_remembers_and_restores_the_daemon(api: Path) -> None:
    daemon = "floe-dagster-daemon"
    state = migration.Quiesced(namespace=NAMESPACE)
    migration.quiesce(state, daemon, timeout=30)
    assert state.replicas == {daemon: 1}
    stored = _stored(api, daemon)
    assert stored["spec"]["replicas"] == 0
    assert stored["metadata"]["annotations"][migration.REPLICAS_ANNOTATION] == "1"

    again = migration.Quiesced(namespace=NAMESPACE)  # a hook killed part-way, run again
    migration.quiesce(again, daemon, timeout=30)
    assert again.replicas == {daemon: 1}, "the remembered replicas, not the 0 it found"

    migration.restore(again)
    stored = _stored(api, daemon)
    assert stored["spec"]["replicas"] == 1
    assert migration.REPLICAS_ANNOTATION not in stored["metadata"].get("annotations", {})


def test_the_hook_may_not_stop_what_it_was_not_granted(api: Path) -> None:
    state = migration.Quiesced(namespace=NAMESPACE)
    with pytest.raises(ApiException) as refused:
        migration.quiesce(state, "floe-dagster-user-deployments-floe-demo", timeout=5)
    assert refused.value.status == 403
    assert "system:serviceaccount:floe:floe-floe-migrate" in str(refused.value.body)


def test_a_missing_deployment_is_nothing_to_stop(api: Path) -> None:
    state = migration.Quiesced(namespace=NAMESPACE)
    migration.quiesce(state, "floe-dagster-webserver", timeout=5)
    assert state.replicas == {}
