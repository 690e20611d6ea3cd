"""The container images the chart's renders use: for helm.validate's registry allowlist, for
mirrors and air-gapped installs.

Derived from the render (the umbrella with the official dagster chart) and the run pods
dagster-k8s builds from it, not from a hand list: the dagster chart's init containers, Cube and
Cube Store, the preflight hook and run pods come along.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from floe_deploy.helm.chart import CHART_DIR, NAMED_VALUES, RenderedObject, chosen_values
from floe_deploy.helm.rendering import prepare_chart, render
from floe_deploy.helm.run_pods import RunJob, run_jobs
from floe_deploy.images.catalog import CATALOG
from floe_deploy.images.source import registry_host
from floe_deploy.settings import Settings

DEFAULT_REGISTRY = "docker.io"
ALL_FLAGS: dict[str, Any] = {
    "preflight": {"enabled": True},
    "demo": {"enabled": True},
    "cube": {"enabled": True, "replicas": 2, "cacheAndQueue": {"driver": "cubestore"}},
}
"""Every toggle that adds a workload: the preflight hook, Cube, Cube Store."""


class RenderedImage(BaseModel):
    """One container of a render and the image it pulls."""

    object: str
    container: str
    image: str


def canonical(reference: str) -> str:
    """`busybox:1.28`, `library/busybox:1.28` and `docker.io/busybox:1.28` are one image."""
    host = registry_host(reference)
    registry, path = (host, reference.split("/", 1)[1]) if host else (DEFAULT_REGISTRY, reference)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec = document.get("spec") or {}
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"].get("spec") or {}
    template: dict[str, Any] = (spec.get("template") or {}).get("spec") or {}
    return template


def _containers(label: str, pod: dict[str, Any]) -> list[RenderedImage]:
    return [
        RenderedImage(object=label, container=str(c.get("name")), image=str(c["image"]))
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or [])
    ]


def pod_images(objects: list[RenderedObject], runs: list[RunJob]) -> list[RenderedImage]:
    """Every container of a render (init containers too) and of its run pods, with its image."""
    found = [
        image for item in objects for image in _containers(item.label, _pod_spec(item.document))
    ]
    for run in runs:
        found += _containers(f"run pod of {run.location}", run.pod_spec)
    return found


def image_errors(images: list[RenderedImage], registry: str) -> list[str]:
    """Images a cluster limited to `registry` cannot pull, each named with its object and
    container: short names (CRI-O refuses them) and references under any other registry."""
    errors = []
    for found in images:
        where = f"{found.object} container {found.container}: image {found.image}"
        if registry_host(found.image) is None:
            errors.append(
                f"{where} is a short name (no registry host; CRI-O's short-name enforcement "
                f"refuses it): name it under imageRegistry {registry}"
            )
        elif not found.image.startswith(f"{registry.rstrip('/')}/"):
            errors.append(f"{where} is outside imageRegistry {registry} (the registry allowlist)")
    return errors


def needed_images(settings: Settings, sources: list[str] | None = None) -> list[str]:
    """Every image reference a render of each values source (default: the chart's values files)
    can pull with every toggle on, run pods included: what a mirror or a bundle must hold."""
    chart = prepare_chart(CHART_DIR, settings.dagster_chart)
    found: set[str] = set()
    for source in sources or list(NAMED_VALUES):
        objects = render(chosen_values(source, ALL_FLAGS), chart)
        found |= {image.image for image in pod_images(objects, run_jobs(objects))}
    return sorted(found)


def rendered_images(settings: Settings) -> dict[str, set[str]]:
    """values file → every image its render runs as it stands (containers and init containers)."""
    chart = prepare_chart(CHART_DIR, settings.dagster_chart)
    return {
        file: {image.image for image in pod_images(render(chosen_values(name), chart), [])}
        for name, file in NAMED_VALUES.items()
    }


def upstream_reference(image: str, registry: str) -> str:
    """The upstream image a reference under `registry` mirrors (`images.mirror --to REGISTRY`
    keeps the upstream path); the reference itself when it is not under `registry`."""
    prefix = f"{registry.rstrip('/')}/"
    return image.removeprefix(prefix) if image.startswith(prefix) else image


def third_party_images(settings: Settings) -> set[str]:
    """What any values file needs (every toggle on) that floe does not build: what a mirror must
    hold, as upstream references."""
    own = {spec.name for spec in CATALOG}
    found = set()
    for name in NAMED_VALUES:
        registry = str(chosen_values(name, over_defaults=True).get("imageRegistry") or "")
        for image in needed_images(settings, [name]):
            upstream = upstream_reference(image, registry) if registry else image
            if upstream.split("@")[0].rsplit(":", 1)[0] not in own:
                found.add(upstream)
    return found
