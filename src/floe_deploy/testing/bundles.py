"""A signed release staged in a registry, the way `invoke publish` leaves one, for the offline
bundle's tests: the images of a build report with a signed SBOM per platform, provenance and a
signature; the chart (with the labelled dagster stand-in, mirrored beside it) signed; the release
record written. The publish functions are the project's own (stage_images, stage_chart,
release_record); only the chart is the test chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from floe_deploy.console import Console
from floe_deploy.helm.dependencies import mirror_dependencies
from floe_deploy.helm.publish import package_chart, stage_chart, tag_chart
from floe_deploy.images.build import BuildReport
from floe_deploy.images.publish import stage_images, tag_images
from floe_deploy.images.signing import Signer, key_pair
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.oci import OciClient
from floe_deploy.release.publish import ReleaseRecord, chart_registry, release_record
from floe_deploy.settings import load_settings
from floe_deploy.testing.charts import chart_with_stand_in


@dataclass(frozen=True)
class StagedRelease:
    record_file: Path
    record: ReleaseRecord
    public_key: Path
    chart_dir: Path
    """the chart the release packaged, the dagster stand-in's archive in its charts/"""


def stage_release(
    root: Path, registry: str, prefix: str, build: BuildReport, version: str
) -> StagedRelease:
    """Publish `build` as release `version` under `registry/prefix` (a loopback registry without
    logins), signed with a new key pair (password ""; COSIGN_PASSWORD must be set to it)."""
    settings = load_settings(registry=registry, image_prefix=prefix, registry_ca="")
    private_key, public_key = key_pair(root / "keys", "")
    signer = Signer(key=private_key)
    release = ReleaseVersion(version=version, tags=[version], revision="e2e", is_release=True)
    oci = OciClient()
    staged = stage_images(settings, build, version=release, signer=signer, force=False,
                          console=Console(), oci=oci)  # fmt: skip
    chart_dir = chart_with_stand_in(root / "chart")
    charts = chart_registry(settings)
    mirror_dependencies(settings, charts, chart_dir)
    packaged = package_chart(chart_dir, root / "packaged", version=version)
    chart = stage_chart(settings, charts, packaged, signer, oci=oci)
    tag_images(oci, staged, Console())
    tag_chart(oci, chart)
    record = release_record(settings, release, staged, chart)
    record_file = root / "release.json"
    record_file.write_text(record.model_dump_json(indent=2))
    return StagedRelease(record_file, record, public_key, chart_dir)
