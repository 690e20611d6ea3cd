"""The mirror list is derived from the renders (every toggle on, run pods included): what floe
does not build of the images under the values' imageRegistry, and docs/06's air-gapped table is
that list."""

from __future__ import annotations

import re

import pytest

from floe_deploy.helm.images import canonical, rendered_images
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.release.mirror import mirror_sources
from floe_deploy.settings import load_settings

REGISTRY = "registry.example.internal/floe"

pytestmark = pytest.mark.requirement("007-FR-015", evidence="real")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("busybox:1.28", "docker.io/library/busybox:1.28"),
        ("docker.io/busybox:1.28", "docker.io/library/busybox:1.28"),
        ("library/postgres:14.6", "docker.io/library/postgres:14.6"),
        ("cubejs/cube:v1.3.23", "docker.io/cubejs/cube:v1.3.23"),
        ("127.0.0.1:5000/floe/dagster:1.0", "127.0.0.1:5000/floe/dagster:1.0"),
    ],
)
def test_one_image_has_one_canonical_name(reference: str, expected: str) -> None:
    assert canonical(reference) == expected


def test_every_rendered_image_is_floes_own_or_mirrored() -> None:
    settings = load_settings()
    mirrored = {canonical(reference) for reference in mirror_sources(settings).values()}
    rendered = rendered_images(settings)
    assert set(rendered) == {"values.yaml", "values-prod.yaml", "values-demo.yaml"}
    for file, images in rendered.items():
        others = {image for image in images if "/floe/dagster:" not in f"/{image}"}
        upstream = {canonical(image.removeprefix(f"{REGISTRY}/")) for image in others}
        assert upstream - {canonical(f"{name}:0.1.0") for name in ("postgres", "busybox")} <= (
            mirrored
        ), file
    assert canonical("cubejs/cubestore:v1.3.23") in mirrored  # Cube Store: a toggle's image
    assert canonical("library/postgres:14.6") not in mirrored  # the chart's default, not rendered


def test_the_air_gapped_docs_list_exactly_the_mirror_sources() -> None:
    text = (PROJECT_ROOT / "docs" / "06-deployment-view.md").read_text()
    table = text.split("<!-- mirror-list:start -->")[1].split("<!-- mirror-list:end -->")[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))
    assert listed == set(mirror_sources(load_settings()).values())
