"""A packaged chart as an OCI artifact, laid out as `helm push` does (its Chart.yaml as the config,
the archive as the one layer): pushed and pulled through the toolkit's one registry client, and
read by `helm pull` / `helm install oci://…` like any chart."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from floe_deploy.errors import FloeError
from floe_deploy.oci import Descriptor, OciClient, repository_of
from floe_deploy.yaml_read import parse_document

HELM_CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def archive_metadata(archive: Path) -> dict[str, Any]:
    """Chart.yaml of a packaged chart (the top-level chart's, not a subchart's)."""
    with tarfile.open(archive) as tar:
        member = next(
            (
                m
                for m in tar.getmembers()
                if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
            ),
            None,
        )
        extracted = tar.extractfile(member) if member is not None else None
        if extracted is None:
            raise FloeError(
                f"{archive} holds no Chart.yaml", "package it with `invoke helm.package`"
            )
        metadata: dict[str, Any] = parse_document(extracted.read())
    return metadata


def push_chart_archive(
    oci: OciClient, archive: Path, repository: str, *, oci_layout: bool = False
) -> Descriptor:
    """Push a packaged chart by digest as Helm's OCI artifact (what `helm push` writes), through
    the toolkit's one registry client: `docker login`'s credentials and FLOE_REGISTRY_CA apply.
    With `oci_layout`, `repository` is `DIRECTORY:NAME` of an OCI image layout."""
    with tempfile.TemporaryDirectory(prefix="floe-chart-push-") as scratch:
        staged = Path(scratch) / archive.name
        shutil.copyfile(archive, staged)
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(archive_metadata(archive), default=str))
        return oci.push_files(
            repository,
            [(staged, HELM_CHART_TYPE)],
            config=(config, HELM_CONFIG_TYPE),
            oci_layout=oci_layout,
        )


def pull_chart_archive(oci: OciClient, reference: str, destination: Path) -> Path:
    """`HOST/PATH/NAME:VERSION` → `destination/NAME-VERSION.tgz`, the artifact's chart layer."""
    fetched = oci.fetch(reference)
    if fetched is None:
        raise FloeError(
            f"{reference} is not in the mirror",
            "fill the mirror with `invoke helm.mirror --to oci://…` on a machine that has the chart",
        )
    layers = [
        layer for layer in fetched[1].get("layers", []) if layer.get("mediaType") == HELM_CHART_TYPE
    ]
    if not layers:
        raise FloeError(f"{reference} is not a Helm chart", "point --mirror at a chart repository")
    name, _, version = reference.rsplit("/", 1)[-1].partition(":")
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / f"{name}-{version}.tgz"
    oci.fetch_blob(f"{repository_of(reference)}@{layers[0]['digest']}", archive)
    return archive
