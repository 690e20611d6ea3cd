"""gitops.promote against a real registry: the image and the chart must be published there,
the diff is printed, --dry-run writes nothing, --commit makes the promotion branch, and the
promoted tree still validates."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import helm_python
import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.gitops.yaml_edit import set_values
from floe_deploy.oci import OciClient
from floe_deploy.settings import load_settings
from floe_deploy.testing import run_task
from floe_deploy.testing.charts import chart_with_stand_in

pytestmark = pytest.mark.requirement("007-FR-040", evidence="real")

NEW = "0.2.0"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, registry: str, docker: DockerClient) -> Path:
    """A repository with gitops/ pointed at the test registry, dev at 0.2.0 pinned by digest as
    `gitops.promote --release` leaves it (digest lineage: staging takes exactly what dev runs):
    the runtime image and floe's init-container images (busybox, postgres), each its own."""
    root = tmp_path / "repo"
    shutil.copytree(GITOPS_DIR, root / "gitops")
    for path in (root / "gitops").rglob("*.yaml"):
        path.write_text(path.read_text().replace("registry.example.com", registry))

    oci = OciClient.from_settings(load_settings())
    pinned: dict[str, str] = {}
    for name in ("dagster", "busybox", "postgres"):
        context = tmp_path / f"image-{name}"
        context.mkdir()
        (context / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
        (context / "marker").write_text(f"floe promote test: {name}\n")
        reference = f"{registry}/floe/{name}:{NEW}"
        docker.buildx.build(context, tags=[reference], labels=TEST_IMAGE_LABELS, load=True)
        docker.image.push(reference, quiet=True)
        image = oci.resolve(reference)
        assert image is not None
        pinned[name] = f"{NEW}@{image.digest}"

    packaged_chart = chart_with_stand_in(tmp_path / "chart")
    archive = helm_python.package(
        str(packaged_chart), destination=str(tmp_path), version=NEW, app_version=NEW
    )
    client = helm_python.RegistryClient(plain_http=True)
    client.push(archive, f"oci://{registry}/floe/charts")
    client.close()

    chart = oci.resolve(f"{registry}/floe/charts/floe-dagster:{NEW}")
    assert chart is not None
    dev = root / "gitops" / "environments" / "dev"
    (dev / "values.yaml").write_text(
        set_values((dev / "values.yaml").read_text(), {
            ("image", "tag"): pinned["dagster"], ("release", "chartVersion"): NEW,
            ("release", "chartDigest"): chart.digest,
            ("dagster", "dagster-user-deployments", "deployments", 0, "image", "tag"): pinned["dagster"],
            ("dagster", "busybox", "image", "tag"): pinned["busybox"],
            ("dagster", "postgresql", "image", "tag"): pinned["postgres"],
        }, add=True)
    )  # fmt: skip
    (dev / "ocirepository.yaml").write_text(
        set_values(
            (dev / "ocirepository.yaml").read_text(),
            {("spec", "ref", "tag"): NEW, ("spec", "ref", "digest"): chart.digest},
            add=True,
        )
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(
        root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "environments"
    )
    return root


def promote(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    return run_task("gitops.promote", "--root", str(repo / "gitops"), *args, env=env)


def test_dry_run_prints_the_diff_and_writes_nothing(repo: Path) -> None:
    done = promote(repo, "--from", "dev", "--to", "staging", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"+  tag: {NEW}" in done.stdout
    assert "-  tag: 0.1.0" in done.stdout
    assert git(repo, "status", "--porcelain") == ""


def test_commit_makes_the_branch_pins_digests_and_keeps_comments(repo: Path, registry: str) -> None:
    staging = repo / "gitops" / "environments" / "staging" / "values.yaml"
    before = staging.read_text()
    done = promote(repo, "--from", "dev", "--to", "staging", "--commit", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["branch"] == f"promote/staging-{NEW}"
    assert report["registry_check"].startswith("ok")
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == report["branch"]
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == [
        "gitops/environments/staging/ocirepository.yaml", "gitops/environments/staging/values.yaml",
    ]  # fmt: skip
    oci = OciClient.from_settings(load_settings())
    digests = {}
    for name in ("dagster", "busybox", "postgres"):
        found = oci.resolve(f"{registry}/floe/{name}:{NEW}")
        assert found is not None
        digests[name] = found.digest
    chart_digest = oci.resolve(f"{registry}/floe/charts/floe-dagster:{NEW}")
    assert chart_digest is not None
    assert report["image_tag"] == f"{NEW}@{digests['dagster']}"
    assert report["init_images"] == [
        f"{registry}/floe/busybox:{NEW}@{digests['busybox']}",
        f"{registry}/floe/postgres:{NEW}@{digests['postgres']}",
    ]
    assert report["chart_digest"] == chart_digest.digest
    after = staging.read_text()
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    # release.chartVersion, image.tag that every workload aliases, the two init images' tags
    assert len(removed) == 4
    moved = [a for a in added if "chartDigest" not in a]
    for digest in digests.values():
        moved = [a.replace(f"@{digest}", "") for a in moved]
    assert sorted(moved) == sorted(r.replace("0.1.0", NEW) for r in removed)
    assert [a.strip() for a in added if "chartDigest" in a] == [
        f"chartDigest: {chart_digest.digest}"
    ]
    validated = run_task("gitops.validate", "--root", str(repo / "gitops"), "--json")
    assert json.loads(validated.stdout)["ok"] is True, validated.stdout[-3000:]


def test_rollback_commits_the_earlier_version(repo: Path) -> None:
    done = promote(repo, "--from", "dev", "--to", "staging", "--commit")
    assert done.returncode == 0, done.stderr
    back = promote(repo, "--rollback", "--to", "staging", "--dry-run", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["image_tag"] == "0.1.0"


@pytest.mark.parametrize(
    ("option", "what"), [("--image-tag", "image"), ("--chart-version", "chart")]
)
def test_an_unpublished_version_is_refused(repo: Path, option: str, what: str) -> None:
    done = promote(repo, "--from", "dev", "--to", "staging", option, "9.9.9", "--force")
    assert done.returncode == 2
    assert f"{what} " in done.stderr
    assert ":9.9.9 is not published" in done.stderr
    assert git(repo, "status", "--porcelain") == ""
