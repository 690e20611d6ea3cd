"""gitops.status on a tree promoted release → dev → staging (committed, in a scratch git
repository; a stand-in registry answers the digests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from floe_deploy.gitops.promote import promote
from floe_deploy.gitops.status import gitops_status
from floe_deploy.gitops.validate import validate_gitops
from floe_deploy.oci import Descriptor, OciClient
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task
from tests.gitops.conftest import git

IMAGE_DIGEST = "sha256:" + "a" * 64
CHART_DIGEST = "sha256:" + "c" * 64


class PublishedRegistry:
    """Answers every reference with the release's digests (image or chart, by path)."""

    def resolve(self, reference: str) -> Descriptor:
        digest = CHART_DIGEST if "/charts/" in reference else IMAGE_DIGEST
        return Descriptor.model_validate(
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": 1}
        )


def release_record(path: Path) -> Path:
    path.write_text(json.dumps({
        "version": "0.2.0", "tags": ["0.2.0"], "git_commit": "f" * 40, "registry": "registry.example.com",
        "images": [{"image": f"registry.example.com/floe/dagster@{IMAGE_DIGEST}",
                    "repository": "registry.example.com/floe/dagster", "digest": IMAGE_DIGEST,
                    "platforms": {}, "sboms": {}, "signature": "", "provenance": ""}],
        "chart": {"reference": "oci://registry.example.com/floe/charts/floe-dagster:0.2.0", "version": "0.2.0",
                  "digest": CHART_DIGEST, "signature": ""},
        "published_at": "2026-12-01T10:00:00Z",
    }))  # fmt: skip
    return path


@pytest.fixture
def promoted(gitops_repo: Path, tmp_path: Path) -> Path:
    registry = cast(OciClient, PublishedRegistry())
    record = release_record(tmp_path / "0.2.0.json")
    promote(None, "dev", root=gitops_repo, release=record, commit=True, registry=registry)
    promote("dev", "staging", root=gitops_repo, commit=True, registry=registry)
    return gitops_repo


@pytest.mark.requirement("007-FR-040", evidence="real")
def test_status_shows_what_each_environment_runs_and_where_it_came_from(promoted: Path) -> None:
    status = gitops_status(promoted)
    dev, staging, prod = status.environments
    head = git(promoted.parent, "rev-parse", "HEAD").strip()
    assert (dev.image_tag, dev.image_digest, dev.chart_version, dev.chart_digest) == (
        "0.2.0", IMAGE_DIGEST, "0.2.0", CHART_DIGEST,
    )  # fmt: skip
    assert (dev.promotion.source, dev.promotion.release_record) == ("release", "0.2.0.json")
    assert (staging.promotion.source, staging.promotion.commit) == ("dev", head[:12])
    assert staging.promotion.release_record == "0.2.0.json"
    assert (staging.image_digest, staging.chart_digest) == (IMAGE_DIGEST, CHART_DIGEST)
    assert (prod.image_tag, prod.image_digest, prod.promotion.source) == ("0.1.0", "-", "-")
    assert status.in_git


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
def test_a_promoted_tree_validates(
    promoted: Path, helm_settings: Settings, gitops_chart: Path
) -> None:
    """Digest lineage and one release per environment hold for what gitops.promote writes."""
    report = validate_gitops(helm_settings, promoted, gitops_chart, render=False)
    assert report.ok, report.model_dump_json(indent=1)


def test_the_task_prints_a_table_and_json(promoted: Path) -> None:
    table = run_task("gitops.status", "--root", str(promoted))
    assert table.returncode == 0, table.stderr
    assert "release record" in table.stdout
    assert "0.2.0.json" in table.stdout
    machine = json.loads(run_task("gitops.status", "--root", str(promoted), "--json").stdout)
    assert [e["promotion"]["source"] for e in machine["environments"]] == ["release", "dev", "-"]
