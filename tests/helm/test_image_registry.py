"""Every image a render can pull comes from the values' imageRegistry: init containers, Cube,
Cube Store, the preflight hook and the run pod dagster-k8s builds (its batch API a recorder).
helm.validate fails on an image outside it or a short name, naming object, container, image.
Real: the renders (the Helm SDK, the official dagster chart, dagster-k8s building the run Job)
and helm.validate itself; nothing is pulled (what pulls happen is #32's offline smoke)."""

from __future__ import annotations

import pytest

from floe_deploy.helm.images import ALL_FLAGS, image_errors, needed_images, pod_images
from floe_deploy.helm.run_pods import run_jobs
from floe_deploy.helm.validate import validate_chart
from floe_deploy.settings import Settings, load_settings
from tests.helm.conftest import Renderer

pytestmark = pytest.mark.requirement("007-FR-055", evidence="real")

REGISTRY = "registry.example.internal/floe"


def test_prod_with_every_toggle_needs_only_images_under_its_registry() -> None:
    """Init containers, Cube, Cube Store, the preflight hook and the run pod dagster-k8s builds."""
    assert ALL_FLAGS["cube"]["cacheAndQueue"] == {"driver": "cubestore"}
    assert needed_images(load_settings(), ["prod"]) == [
        f"{REGISTRY}/busybox:0.1.0",
        f"{REGISTRY}/cubejs/cube:v1.3.23",
        f"{REGISTRY}/cubejs/cubestore:v1.3.23",
        f"{REGISTRY}/dagster:0.1.0",
        f"{REGISTRY}/postgres:0.1.0",
    ]


def test_every_container_and_the_run_pod_are_held_to_the_registry(rendered: Renderer) -> None:
    objects = rendered("values-prod.yaml", **ALL_FLAGS)
    images = pod_images(objects, run_jobs(objects))
    assert image_errors(images, REGISTRY) == []
    containers = {(i.object, i.container) for i in images}
    assert ("Deployment/floe-dagster-daemon", "check-db-ready") in containers
    assert ("StatefulSet/floe-floe-cubestore", "cubestore") in containers
    assert ("Job/floe-floe-preflight", "preflight") in containers
    assert ("run pod of floe-demo", "dagster") in containers
    elsewhere = image_errors(images, "registry.example.com/floe")
    assert len(elsewhere) == len(images)
    assert (
        "run pod of floe-demo container dagster: image registry.example.internal/floe/dagster:0.1.0 "
        "is outside imageRegistry registry.example.com/floe (the registry allowlist)"
    ) in elsewhere


def test_a_planted_docker_hub_image_or_short_name_fails_validation(
    helm_settings: Settings,
) -> None:
    planted = {
        "dagster": {"busybox": {"image": {"repository": "docker.io/busybox", "tag": "1.28"}}},
        "cube": {"enabled": True, "image": {"repository": "cubejs/cube"}},
    }
    report = validate_chart(helm_settings, ["prod"], planted)
    (prod,) = report.values_files
    assert sorted(prod.errors) == [
        "Deployment/floe-dagster-daemon container init-user-deployment-floe-demo: image "
        f"docker.io/busybox:1.28 is outside imageRegistry {REGISTRY} (the registry allowlist)",
        "Deployment/floe-dagster-webserver container init-user-deployment-floe-demo: image "
        f"docker.io/busybox:1.28 is outside imageRegistry {REGISTRY} (the registry allowlist)",
        "Deployment/floe-floe-cube container cube: image cubejs/cube:v1.3.23 is a short name (no "
        "registry host; CRI-O's short-name enforcement refuses it): name it under imageRegistry "
        f"{REGISTRY}",
    ]
    assert not report.ok
