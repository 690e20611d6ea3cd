"""SBOMs by image ID: syft (real) scans an image (real engine) once; the same image, staged again
for another registry or by a publish that was cut short, gets that SBOM without a second scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.commands import run
from floe_deploy.images import sbom
from floe_deploy.settings import Settings

pytestmark = pytest.mark.requirement("007-FR-012", evidence="real")


def scratch_image(docker: DockerClient, root: Path, package: str) -> tuple[str, str]:
    """An image holding only one Python distribution's metadata: (reference, image ID)."""
    info = root / package / "site-packages" / f"{package}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (root / package / "Dockerfile").write_text(
        "FROM scratch\nCOPY site-packages /usr/lib/python3/dist-packages\n"
    )
    reference = f"floe-e2e/sbom-{package}:1"
    docker.build(root / package, tags=[reference], labels=TEST_IMAGE_LABELS)
    return reference, docker.image.inspect(reference).id


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every `syft scan` the module runs (they still run)."""
    seen: list[list[str]] = []

    def recording(argv: list[str], **kwargs: Any) -> str:
        if "scan" in argv:
            seen.append(argv)
        return run(argv, **kwargs)

    monkeypatch.setattr(sbom, "run", recording)
    return seen


def test_an_image_is_scanned_once_and_another_image_gets_its_own_sbom(
    docker: DockerClient, tmp_path: Path, scans: list[list[str]]
) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    reference, image_id = scratch_image(docker, tmp_path, "alpha")
    first = sbom.image_sbom(settings, reference, image_id, tmp_path / "one", "alpha")
    again = sbom.image_sbom(settings, reference, image_id, tmp_path / "two", "alpha")
    assert len(scans) == 1
    assert again.path.read_text() == first.path.read_text()
    assert '"pkg:pypi/alpha@1.0"' in first.path.read_text()
    other, other_id = scratch_image(docker, tmp_path, "beta")
    assert other_id != image_id
    beta = sbom.image_sbom(settings, other, other_id, tmp_path / "one", "beta")
    assert len(scans) == 2
    assert '"pkg:pypi/beta@1.0"' in beta.path.read_text()
    assert '"pkg:pypi/alpha@1.0"' not in beta.path.read_text()
    assert not [p for p in sbom.sbom_cache(settings.state_dir).rglob(".*")], "no partial scan left"
