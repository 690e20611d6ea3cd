"""The container images the chart's values files render, for mirrors and air-gapped installs.

Derived from the render (the umbrella with the official dagster chart), not from a hand list:
the dagster chart's init containers (busybox, a Postgres client image) and Cube come along.
"""

from __future__ import annotations

from typing import Any

from floe_deploy.helm.chart import CHART_DIR, NAMED_VALUES, load_values
from floe_deploy.helm.rendering import prepare_chart, render
from floe_deploy.settings import Settings

DEFAULT_REGISTRY = "docker.io"


def canonical(reference: str) -> str:
    """`busybox:1.28`, `library/busybox:1.28` and `docker.io/busybox:1.28` are one image."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, reference
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec = document.get("spec") or {}
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"].get("spec") or {}
    template: dict[str, Any] = (spec.get("template") or {}).get("spec") or {}
    return template


def rendered_images(settings: Settings) -> dict[str, set[str]]:
    """values file → every image its render runs (containers and init containers)."""
    chart = prepare_chart(CHART_DIR, settings.dagster_chart)
    found: dict[str, set[str]] = {}
    for name, file in NAMED_VALUES.items():
        values = {} if name == "default" else load_values(CHART_DIR / file)
        images = found.setdefault(file, set())
        for rendered in render(values, chart):
            pod = _pod_spec(rendered.document)
            for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                images.add(str(container["image"]))
    return found


def third_party_images(settings: Settings) -> set[str]:
    """What any values file renders except floe's own image: what a mirror must hold."""
    own = {
        str((load_values(CHART_DIR / file).get("image") or {}).get("repository") or "")
        for file in NAMED_VALUES.values()
    } - {""}
    return {
        image
        for images in rendered_images(settings).values()
        for image in images
        if image.rsplit(":", 1)[0] not in own
    }
