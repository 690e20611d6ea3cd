"""The release pipeline end to end, as GitHub runs it: `.github/workflows/release.yml` for the tag
push of v9.9.9, run by act on this machine against a GHCR-like registry (TLS from a CA made for the
test, token authentication with pushes only under the owner's namespace `acme/`, DENIED for a
package that does not exist yet; floe_deploy.testing.ghcr). The workflow's `invoke publish`
builds the golden base and every image for both platforms and the chart, and publishes them with
manifest lists, per-platform signed SBOMs, provenance and signatures. Its first run is refused the
chart's manifest half-way (no release tag may appear), its second completes; then verify, policy
checks, refusal, failure injection, mirror and promotion run against the same registry.

The module's fixture builds every image for two platforms: from a cold build cache that takes far
longer than one test's budget, so the module has its own (PUBLISH_BUDGET_S).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.images.build import BuildReport, BuiltImage
from floe_deploy.images.catalog import CATALOG
from floe_deploy.images.layers import scan_image
from floe_deploy.images.policy import inspect_image
from floe_deploy.images.publish import publish_images
from floe_deploy.images.sbom import COSIGN_TYPE as SBOM_TYPE
from floe_deploy.images.signing import Verifier, verified_statements
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.oci import OciClient
from floe_deploy.release.mirror import mirror_sources
from floe_deploy.settings import load_settings
from floe_deploy.testing import free_port, run_task, task_json
from floe_deploy.testing.act import WorkflowRun
from floe_deploy.testing.charts import chart_for_packaging
from floe_deploy.testing.release_rehearsal import (
    OWNER,
    REPOSITORY,
    ReleaseStage,
    docker_login,
    release_stage,
)

IMAGES = [spec.name for spec in CATALOG]
VERSION = "9.9.9"
PREFIX = f"{OWNER}/{REPOSITORY}"
"""The images' prefix the workflow publishes under: the owner's namespace, lower case."""
IDENTITY = f"https://github.com/{PREFIX}/.github/workflows/release.yml@refs/tags/v{VERSION}"
PUBLISH_BUDGET_S = 3600
"""Cold: debootstrap of two golden bases and every image under QEMU; warm it is minutes."""

pytestmark = pytest.mark.timeout(2 * PUBLISH_BUDGET_S + 600)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseStage]:
    with release_stage(tmp_path_factory.mktemp("release")) as ready:
        yield ready


@pytest.fixture(scope="module")
def login_env(stage: ReleaseStage) -> dict[str, str]:
    return stage.login_env


@pytest.fixture
def logged_in(login_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> OciClient:
    """This process, logged in as the module's publish: for checks made from the test itself."""
    for name, value in login_env.items():
        monkeypatch.setenv(name, value)
    return OciClient(ca_file=Path(login_env["FLOE_REGISTRY_CA"]))


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_for_packaging(tmp_path_factory.mktemp("chart"), load_settings().dagster_chart)


@dataclass
class Rehearsal:
    """The release workflow's two runs: the first refused the chart half-way, the second whole."""

    failed: WorkflowRun
    tags_after_failure: dict[str, str | None]
    completed: WorkflowRun
    record: dict[str, Any]


def release_tags(stage: ReleaseStage, oci: OciClient) -> dict[str, str | None]:
    """Every release tag of VERSION (images and chart) → the digest it names, None when absent."""
    address = stage.registry.address
    references = [f"{address}/{PREFIX}/{image}:{VERSION}" for image in IMAGES]
    references.append(f"{address}/{PREFIX}/charts/floe-dagster:{VERSION}")
    found = {reference: oci.resolve(reference) for reference in references}
    return {reference: d.digest if d else None for reference, d in found.items()}


@pytest.fixture(scope="module")
def rehearsal(stage: ReleaseStage) -> Rehearsal:
    """release.yml under act, twice: the registry DENIES the chart's manifest in the first run."""
    oci = OciClient(ca_file=stage.registry.ca_file)
    stage.registry.refuse_manifests(f"{PREFIX}/charts/")
    failed = stage.run(VERSION, "refused-chart", timeout=PUBLISH_BUDGET_S)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stage.login_env.items():
            patch.setenv(name, value)
        after_failure = release_tags(stage, oci)
    stage.registry.allow_pushes()
    completed = stage.run(VERSION, "completed", timeout=PUBLISH_BUDGET_S)
    assert completed.succeeded, completed.log.read_text()[-5000:]
    return Rehearsal(failed, after_failure, completed, stage.record(completed))


@pytest.fixture(scope="module")
def release(rehearsal: Rehearsal) -> dict[str, Any]:
    return rehearsal.record


@pytest.fixture(scope="module")
def published(release: dict[str, Any]) -> dict[str, Any]:
    return {image["image"]: image for image in release["images"]}


@pytest.mark.requirement("007-FR-046", evidence="real")
@pytest.mark.requirement("007-FR-053", evidence="real")
def test_a_release_refused_half_way_leaves_no_release_tag_and_a_rerun_completes(
    rehearsal: Rehearsal, release: dict[str, Any]
) -> None:
    """The workflow's publish step fails on the chart's manifest (after every image was staged):
    no tag of the release names anything; the re-run of the workflow completes the release."""
    assert not rehearsal.failed.succeeded
    publish = rehearsal.failed.step("Publish images")
    assert publish.result == "failure"
    assert rehearsal.failed.step("Fetch the chart's dependency").result == "success"
    assert set(rehearsal.tags_after_failure.values()) == {None}, rehearsal.tags_after_failure
    log = rehearsal.failed.log.read_text()
    assert f"{PREFIX}/charts/floe-dagster" in log
    assert "denies this account access" in log  # the error reaches the job's log, not only the file
    assert rehearsal.completed.step("Keep the release record").result == "success"
    assert release["version"] == VERSION


@pytest.mark.requirement("007-FR-047", evidence="real")
def test_the_workflow_run_installs_only_what_publishing_needs(rehearsal: Rehearsal) -> None:
    """Each step's time under act, and the bootstrap's release group in the job."""
    steps = {s.name.split(" (")[0]: s for s in rehearsal.completed.steps}
    assert steps["Install what publishing needs"].result == "success"
    log = rehearsal.completed.log.read_text()
    for absent in ("chromium", "podman", "postgresql"):
        assert f"{absent} (" not in log.lower(), absent


def index_platforms(client: OciClient, repository: str, digest: str) -> set[str]:
    fetched = client.fetch(f"{repository}@{digest}")
    assert fetched is not None
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in fetched[1]["manifests"]
        if m["platform"]["os"] != "unknown"
    }


@pytest.mark.requirement("007-FR-010", evidence="real")
def test_every_image_is_published_for_both_platforms(
    release: dict[str, Any], published: dict[str, Any], logged_in: OciClient
) -> None:
    assert set(published) == set(IMAGES)
    assert release["tags"] == [VERSION, "9.9", "latest"]  # a vX.Y.Z tag push: the newest release
    for image, entry in published.items():
        assert index_platforms(logged_in, entry["repository"], entry["digest"]) == {
            "linux/amd64",
            "linux/arm64",
        }, image
        tagged = logged_in.resolve(f"{entry['repository']}:{VERSION}")
        assert tagged is not None
        assert tagged.digest == entry["digest"]


@pytest.mark.requirement("007-FR-049", evidence="real")
def test_a_publish_leaves_no_push_tags_in_the_engine(
    release: dict[str, Any], stage: ReleaseStage, docker: DockerClient
) -> None:
    """The registry holds what was pushed; the engine keeps only the build's local tags."""
    left = [
        tag
        for image in docker.image.list()
        for tag in image.repo_tags
        if tag.startswith(f"{stage.registry.address}/")
    ]
    assert left == []
    assert docker.image.list(f"{PREFIX}/registry:{VERSION}-amd64")


@pytest.mark.requirement("007-FR-046", evidence="real")
def test_the_release_record_names_every_artifact_by_digest(
    rehearsal: Rehearsal, release: dict[str, Any], stage: ReleaseStage, logged_in: OciClient
) -> None:
    """The record the workflow uploaded as its artifact: the tagged commit, the chart under the
    images' prefix (the owner's namespace), every artifact by digest."""
    repo = stage.repository(VERSION)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", f"v{VERSION}^{{commit}}"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert release["git_commit"] == head.stdout.strip()
    assert release["registry"] == stage.registry.address
    chart = release["chart"]
    assert chart["reference"] == (
        f"oci://{stage.registry.address}/{PREFIX}/charts/floe-dagster:{VERSION}"
    )
    resolved = logged_in.resolve(chart["reference"])
    assert resolved is not None
    assert resolved.digest == chart["digest"]
    for entry in release["images"]:
        assert set(entry["platforms"]) == {"linux/amd64", "linux/arm64"}
        assert all(digest.startswith("sha256:") for digest in entry["platforms"].values())
        assert entry["repository"] == f"{stage.registry.address}/{PREFIX}/{entry['image']}"
        assert set(entry["sboms"]) == set(entry["platforms"])
        for attestation in entry["sboms"].values():
            assert logged_in.resolve(attestation) is not None
        assert logged_in.resolve(entry["signature"]) is not None
        assert logged_in.resolve(entry["provenance"]) is not None


@pytest.mark.requirement("007-FR-012", evidence="real")
@pytest.mark.requirement("007-FR-053", evidence="real")
def test_verify_accepts_the_release_with_the_exact_identity_and_no_other(
    release: dict[str, Any], stage: ReleaseStage, login_env: dict[str, str]
) -> None:
    """Signature, a signed SBOM per platform and a provenance whose builder is exactly the
    release workflow of this tag; another tag or a repository whose name starts the same fails."""
    key = ("--key", str(stage.public_key))
    report = task_json("images.verify", "--tag", VERSION, *key, "--certificate-identity", IDENTITY,
                       env=login_env)  # fmt: skip
    assert report["ok"] is True, report
    assert {v["image"] for v in report["images"]} == set(IMAGES)
    for verified in report["images"]:
        assert verified["sboms"] == {"linux/amd64": True, "linux/arm64": True}, verified
        assert verified["provenance_detail"].startswith("SLSA provenance from commit")
        assert verified["provenance_detail"].endswith(f"by {IDENTITY}")
    for impostor in (f"{IDENTITY}-rc1", IDENTITY.replace(f"/{PREFIX}/", f"/{PREFIX}-fork/")):
        done = run_task("images.verify", "--tag", VERSION, "--image", "dagster", *key,
                        "--certificate-identity", impostor, "--json", env=login_env)  # fmt: skip
        assert done.returncode == 3, done.stdout + done.stderr
        assert "provenance names builder" in done.stdout
    chart = task_json("helm.verify", release["chart"]["reference"], *key, env=login_env)
    assert chart["signature_ok"] is True, chart


@pytest.mark.requirement("007-FR-012", evidence="real")
def test_sboms_list_the_locked_packages(
    published: dict[str, Any], logged_in: OciClient, stage: ReleaseStage
) -> None:
    """Each platform's SBOM as its signed attestation says (verified, then read), made by syft."""
    verifier = Verifier(public_key=stage.public_key)

    def purls(image: str) -> dict[str, set[str]]:
        """platform → the package URLs its signed SBOM lists."""
        entry, found = published[image], {}
        for platform, digest in entry["platforms"].items():
            statements, reason = verified_statements(
                logged_in, f"{entry['repository']}@{digest}", SBOM_TYPE, verifier
            )
            assert statements, f"{image} {platform}: {reason}"
            components = statements[0]["predicate"]["components"]
            found[platform] = {str(c.get("purl", "")) for c in components}
        assert set(found) == {"linux/amd64", "linux/arm64"}
        return found

    expected = {"dagster": "pkg:pypi/dagster@1.13.27", "postgres": "pkg:deb/debian/postgresql-15@",
                "s3": "pkg:npm/s3rver@3.7.1", "cube": "pkg:npm/%40cubejs-backend/server@0.32.9"}  # fmt: skip
    for image, prefix in expected.items():
        for platform, listed in purls(image).items():
            assert any(p.startswith(prefix) for p in listed), (image, platform)


@pytest.mark.requirement("007-FR-007", evidence="real")
def test_arm64_runtime_runs_under_emulation(release: dict[str, Any], docker: DockerClient) -> None:
    output = docker.run(
        f"{PREFIX}/dagster:{VERSION}-arm64",
        ["-m"],
        entrypoint="uname",
        platform="linux/arm64",
        remove=True,
    )
    assert output == "aarch64"


@pytest.mark.requirement("007-FR-014", evidence="real")
@pytest.mark.parametrize("image", IMAGES)
def test_policy_checks_pass(release: dict[str, Any], image: str) -> None:
    done = run_task(
        "images.inspect",
        image,
        "--platform",
        "linux/amd64",
        "--tag",
        VERSION,
        "--json",
        env={"FLOE_IMAGE_PREFIX": PREFIX},
    )
    report = json.loads(done.stdout)
    (inspection,) = report["images"]
    assert inspection["passed"] is True, inspection["checks"]
    assert done.returncode == 0
    names = {check["name"] for check in inspection["checks"]}
    assert {
        "OCI labels",
        "no compilers",
        "no secrets in layers",
        "no secrets in env",
    } <= names
    if image not in {"python-base", "dagster"}:
        assert "exec-form entrypoint" in names
    if image == "dagster":
        assert "no ENTRYPOINT, exec-form CMD" in names
        assert "runs as UID 1000" in names
        assert "read-only start, gRPC health" in names


def test_floe_preflight_runs_inside_the_runtime_image(
    release: dict[str, Any], docker: DockerClient
) -> None:
    output = docker.run(
        f"{PREFIX}/dagster:{VERSION}-amd64", ["--check", "compute", "--json"], entrypoint="floe-preflight",
        remove=True, read_only=True, tmpfs=["/tmp"],
    )  # fmt: skip
    (result,) = json.loads(str(output))["results"]
    assert result["status"] == "ok"
    assert result["type"] == "duckdb"


def planted_image(docker: DockerClient, directory: Path, name: str, dockerfile: str) -> str:
    (directory / "Dockerfile").write_text(dockerfile)
    tag = f"floe-test/planted-{name}:e2e"
    docker.buildx.build(
        directory, tags=[tag], platforms=["linux/amd64"], load=True, labels=TEST_IMAGE_LABELS
    )
    return tag


@pytest.mark.requirement("007-FR-013", evidence="real")
def test_a_planted_root_user_compiler_missing_label_and_entrypoint_fail_their_checks(
    release: dict[str, Any], docker: DockerClient, tmp_path: Path
) -> None:
    """One image breaks every static rule of the runtime image; each check names its finding."""
    (tmp_path / "gcc").write_text("#!/bin/sh\n")
    tag = planted_image(docker, tmp_path, "static", (
        f"FROM {PREFIX}/dagster:{VERSION}-amd64\nUSER root\nCOPY gcc /usr/bin/gcc\n"
        'LABEL org.opencontainers.image.revision=""\nENTRYPOINT ["dagster"]\n'
    ))  # fmt: skip
    checks = {c.name: c for c in inspect_image(docker, tag, run_checks=False).checks}
    assert not checks["runs as UID 1000"].passed
    assert checks["runs as UID 1000"].detail == "user root"
    assert not checks["no compilers"].passed
    assert checks["no compilers"].detail == "usr/bin/gcc"
    assert not checks["OCI labels"].passed
    assert checks["OCI labels"].detail == "missing org.opencontainers.image.revision"
    assert not checks["no ENTRYPOINT, exec-form CMD"].passed
    assert checks["no secrets in layers"].passed
    assert checks["no secrets in env"].passed


@pytest.mark.requirement("007-FR-013", evidence="real")
def test_a_planted_write_outside_tmp_fails_the_read_only_start(
    release: dict[str, Any], docker: DockerClient, tmp_path: Path
) -> None:
    """The code server writes a file under its home before it starts: with a read-only root it
    exits, so the read-only check fails, while every static check still passes."""
    base = f"{PREFIX}/dagster:{VERSION}-amd64"
    command = docker.image.inspect(base).config.cmd or []
    starter = f"open('/home/floe/state', 'w'); import os; os.execvp('dagster', {command!r})"
    tag = planted_image(docker, tmp_path, "read-only", (
        f"FROM {base}\nCMD {json.dumps(['python', '-c', starter])}\n"
    ))  # fmt: skip
    checks = {c.name: c for c in inspect_image(docker, tag).checks}
    read_only = checks.pop("read-only start, gRPC health")
    assert not read_only.passed
    assert "Read-only file system" in read_only.detail
    assert all(check.passed for check in checks.values()), checks


@pytest.mark.requirement("007-FR-013", evidence="real")
def test_a_planted_secret_fails_the_checks(
    release: dict[str, Any], docker: DockerClient, tmp_path: Path
) -> None:
    """A private key added in one layer and deleted in the next is still found; so is a secret ENV."""
    body = base64.b64encode(secrets.token_bytes(48)).decode()
    key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    (tmp_path / "deploy.pem").write_text(key)
    base = f"{PREFIX}/dagster:{VERSION}-amd64"
    tag = planted_image(docker, tmp_path, "secret", (
        f"FROM {base}\nCOPY deploy.pem /home/floe/deploy.pem\nUSER root\nRUN rm /home/floe/deploy.pem\n"
        "USER 1000:1000\nENV DB_PASSWORD=hunter2hunter2\n"
    ))  # fmt: skip
    checks = {c.name: c for c in inspect_image(docker, tag, run_checks=False).checks}
    assert not checks["no secrets in layers"].passed
    assert "home/floe/deploy.pem (private key)" in checks["no secrets in layers"].detail
    assert not checks["no secrets in env"].passed
    assert "DB_PASSWORD" in checks["no secrets in env"].detail


@pytest.mark.requirement("007-FR-011", evidence="real")
def test_a_second_publish_of_the_release_with_other_content_is_refused(
    published: dict[str, Any],
    stage: ReleaseStage,
    login_env: dict[str, str],
    logged_in: OciClient,
    chart: Path,
) -> None:
    """The registry's 9.9.9 of `registry` is made to name other content; publishing 9.9.9 again
    must refuse before pushing anything, and leave every tag where it was."""
    repository = published["registry"]["repository"]
    other = published["s3"]["digest"]
    logged_in.copy(
        f"{published['s3']['repository']}@{other}", f"{repository}@{other}", recursive=False
    )
    logged_in.tag(f"{repository}@{other}", [VERSION])
    try:
        done = run_task("publish", "--registry", stage.registry.address, "--version", VERSION, "--chart",
                        str(chart), env=login_env, timeout=PUBLISH_BUDGET_S)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert re.match(
            rf"ERROR: release {re.escape(VERSION)} of [a-z-]+ already exists in {stage.registry.address} "
            "with another digest",
            done.stderr,
        ), done.stderr
        moved = logged_in.resolve(f"{repository}:{VERSION}")
        assert moved is not None
        assert moved.digest == other
    finally:
        logged_in.tag(f"{repository}@{published['registry']['digest']}", [VERSION])


@pytest.mark.requirement("007-FR-046", evidence="real")
def test_a_failure_between_platforms_leaves_no_release_tag_and_a_rerun_completes(
    release: dict[str, Any], stage: ReleaseStage, logged_in: OciClient, docker: DockerClient
) -> None:
    """The arm64 push fails (its image is not in the engine) after amd64 was pushed: no tag of the
    release may name anything; the same publish with the image present then completes."""
    version = "9.9.10"
    settings = load_settings(registry=stage.registry.address, registry_ca=logged_in.ca_file,
                             image_prefix=PREFIX)  # fmt: skip
    built = {
        platform: docker.image.inspect(f"{PREFIX}/registry:{VERSION}-{platform.split('/')[1]}")
        for platform in ("linux/amd64", "linux/arm64")
    }
    missing = f"floe-test/not-built:{secrets.token_hex(4)}"

    def report(arm64_reference: str) -> BuildReport:
        return BuildReport(tag=version, images=[
            BuiltImage(image="registry", platform="linux/amd64", reference=f"{PREFIX}/registry:{VERSION}-amd64",
                       image_id=built["linux/amd64"].id, size_bytes=0, seconds=0),
            BuiltImage(image="registry", platform="linux/arm64", reference=arm64_reference,
                       image_id=built["linux/arm64"].id, size_bytes=0, seconds=0),
        ])  # fmt: skip

    release_version = ReleaseVersion(
        version=version, tags=[version], revision="e2e", is_release=True
    )
    repository = f"{stage.registry.address}/{PREFIX}/registry"
    with pytest.raises(FloeError, match=r"pushing .*arm64"):
        publish_images(settings, report(missing), version=release_version, key=None, force=False,
                       console=Console())  # fmt: skip
    assert logged_in.resolve(f"{repository}:{version}-amd64") is not None
    assert logged_in.resolve(f"{repository}:{version}") is None
    done = publish_images(settings, report(f"{PREFIX}/registry:{VERSION}-arm64"), version=release_version,
                          key=None, force=False, console=Console())  # fmt: skip
    tagged = logged_in.resolve(f"{repository}:{version}")
    assert tagged is not None
    assert tagged.digest == done.images[0].digest
    assert index_platforms(logged_in, repository, tagged.digest) == {"linux/amd64", "linux/arm64"}


@pytest.mark.requirement("007-FR-045", evidence="real")
@pytest.mark.parametrize("fault", ["no login", "wrong password", "unknown CA"])
def test_registry_access_faults_are_one_line_each(
    fault: str, stage: ReleaseStage, login_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(login_env)
    if fault == "no login":
        env["DOCKER_CONFIG"] = str(tmp_path)
    elif fault == "wrong password":
        assert (
            docker_login(
                tmp_path, stage.registry, stage.account.username, "not-the-password"
            ).returncode
            != 0
        )
        shutil.copy(Path(login_env["DOCKER_CONFIG"]) / "config.json", tmp_path / "config.json")
        config = json.loads((tmp_path / "config.json").read_text())
        stale = base64.b64encode(f"{stage.account.username}:rotated-away".encode()).decode()
        config["auths"][stage.registry.address]["auth"] = stale
        (tmp_path / "config.json").write_text(json.dumps(config))
        env["DOCKER_CONFIG"] = str(tmp_path)
    else:
        env["FLOE_REGISTRY_CA"] = ""
    done = run_task("publish", "--registry", stage.registry.address, env=env)
    expected = {
        "no login": f"no login for {stage.registry.address}",
        "wrong password": f"{stage.registry.address} refused the stored credentials",
        "unknown CA": f"the TLS certificate of {stage.registry.address} is not trusted",
    }[fault]
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert expected in line
    assert "Remediation:" in line
    assert stage.account.token not in done.stderr + done.stdout


@pytest.mark.requirement("007-FR-009", evidence="real")
def test_build_reports_each_platforms_image_with_tag_id_size_and_time(docker: DockerClient) -> None:
    """images.build on the real engine with buildx: one image per platform, as reported."""
    done = run_task("images.build", "--image", "registry", "--platform", "linux/amd64,linux/arm64",
                    "--json", timeout=PUBLISH_BUDGET_S)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    built = {i["platform"]: i for i in report["images"] if i["image"] == "registry"}
    assert set(built) == {"linux/amd64", "linux/arm64"}
    for platform, image in built.items():
        assert image["reference"] == f"floe/registry:{report['tag']}-{platform.split('/')[1]}"
        assert image["image_id"].startswith("sha256:")
        assert image["size_bytes"] > 0
        assert image["seconds"] >= 0
        inspected = docker.image.inspect(image["reference"])
        assert inspected.id == image["image_id"]
        assert f"{inspected.os}/{inspected.architecture}" == platform


@pytest.mark.requirement("007-FR-006", evidence="real")
def test_bad_input_is_one_line_and_exit_2() -> None:
    unknown = run_task("images.build", "--image", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("ERROR: unknown image 'nope'")
    platform = run_task("images.build", "--platform", "linux/amd64,windows/amd64")
    assert platform.returncode == 2
    assert "unsupported platform 'windows/amd64'" in platform.stderr
    unreachable = run_task(
        "images.publish", "--registry", f"127.0.0.1:{free_port()}", "--image", "registry"
    )
    assert unreachable.returncode == 1
    assert "is not reachable (connection refused)" in unreachable.stderr.splitlines()[0]
    no_docker = run_task(
        "images.build", "--image", "registry", env={"DOCKER_HOST": "unix:///nonexistent.sock"}
    )
    assert no_docker.returncode == 2
    assert "the Docker engine does not answer" in no_docker.stderr


@pytest.mark.requirement("007-FR-015", evidence="real")
@pytest.mark.requirement("007-FR-016", evidence="real")
def test_mirror_setting_rewrites_references_and_auto_detects(
    published: dict[str, Any],
    stage: ReleaseStage,
    registry: str,
    logged_in: OciClient,
    login_env: dict[str, str],
) -> None:
    """Stand-ins for the upstream images (our own images under the upstream names, in a throwaway
    plain-HTTP registry playing the mirror) prove the plumbing: auto-detection, rewriting, and
    copying on into the private registry with its login and CA."""
    env = {"FLOE_MIRROR": registry, "FLOE_IMAGE_SOURCE": "auto"}
    empty = run_task("images.build", "--image", "registry", "--dry-run", "--json", env=env)
    assert json.loads(empty.stdout)["source"] == "hermetic"
    stand_in = f"{published['registry']['repository']}@{published['registry']['digest']}"
    sources = mirror_sources(load_settings())
    for reference in sources.values():
        path = reference if "/" in reference else f"library/{reference}"
        logged_in.copy(stand_in, f"{registry}/{path}", recursive=False)
    plan = json.loads(
        run_task("images.build", "--image", "dagster", "--dry-run", "--json", env=env).stdout
    )
    assert plan["source"] == "upstream"
    assert plan["targets"][0]["build_args"]["BASE_IMAGE"] == f"{registry}/library/python:3.11-slim"
    copy = task_json(
        "images.mirror", "--to", f"{stage.registry.address}/{OWNER}/mirror", env=env | login_env
    )
    targets = {m["target"] for m in copy["images"]}
    assert targets == {
        f"{stage.registry.address}/{OWNER}/mirror/{r if '/' in r else 'library/' + r}"
        for r in sources.values()
    }
    for target in targets:
        copied = logged_in.resolve(target)
        assert copied is not None
        assert copied.digest == published["registry"]["digest"]
    offline = run_task(
        "images.mirror",
        "--to",
        f"{stage.registry.address}/{OWNER}/m2",
        env={"FLOE_MIRROR": f"127.0.0.1:{free_port()}"},
    )
    assert offline.returncode == 2
    assert "no upstream registry is reachable" in offline.stderr


@pytest.mark.requirement("007-FR-040", evidence="real")
def test_the_release_record_promotes_into_dev(
    release: dict[str, Any], stage: ReleaseStage, login_env: dict[str, str], tmp_path: Path
) -> None:
    """gitops.promote --release checks, with the login and CA, that what the record names is in
    the private registry, and writes its versions into dev."""
    root = tmp_path / "gitops"
    shutil.copytree(GITOPS_DIR, root)
    for path in root.rglob("*.yaml"):
        path.write_text(
            path.read_text().replace("registry.example.com", f"{stage.registry.address}/{OWNER}")
        )
    record = tmp_path / "release.json"
    record.write_text(json.dumps(release))
    done = task_json(
        "gitops.promote",
        "--release",
        str(record),
        "--to",
        "dev",
        "--root",
        str(root),
        env=login_env,
    )
    assert "error" not in done, done
    (runtime,) = [i for i in release["images"] if i["repository"].endswith("/floe/dagster")]
    assert done["image_tag"] == f"{VERSION}@{runtime['digest']}"  # pinned by the record's digest
    assert done["chart_version"] == VERSION
    assert done["chart_digest"] == release["chart"]["digest"]
    dev = (root / "environments" / "dev" / "values.yaml").read_text()
    assert f"tag: {VERSION}@{runtime['digest']}" in dev
    wrong = run_task(
        "gitops.promote", "--release", str(record), "--to", "staging", "--root", str(root)
    )
    assert wrong.returncode == 2
    assert "a release record promotes into dev only" in wrong.stderr


def _layer(entries: list[tuple[str, bytes | None]]) -> bytes:
    """An uncompressed layer tar: (path, content) files, None for a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for path, content in entries:
            info = tarfile.TarInfo(path)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                layer.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                layer.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _load_image(docker: DockerClient, directory: Path, tag: str, layers: list[bytes]) -> str:
    """`docker load` a docker-archive written by hand, so the layers hold exactly these entries."""
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": TEST_IMAGE_LABELS},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()  # fmt: skip
    archive = directory / f"{tag.replace('/', '_').replace(':', '_')}.tar"
    with tarfile.open(archive, "w") as image:
        members = {"config.json": config} | {f"{i}/layer.tar": b for i, b in enumerate(layers)}
        members["manifest.json"] = json.dumps([{
            "Config": "config.json", "RepoTags": [tag], "Layers": [f"{i}/layer.tar" for i in range(len(layers))],
        }]).encode()  # fmt: skip
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            image.addfile(info, io.BytesIO(data))
    docker.image.load(archive)
    return tag


@pytest.mark.requirement("007-FR-014", evidence="real")
def test_an_opaque_whiteout_hides_what_lower_layers_put_in_its_directory(
    docker: DockerClient, tmp_path: Path
) -> None:
    """A directory replaced in a later layer (`.wh..wh..opq`): a compiler the lower layer put there
    is gone from the image, so neither the policy check nor the SBOM may see it; the later layer's
    own file stays. Without the marker the compiler is found."""
    lower = _layer([("usr", None), ("usr/local", None), ("usr/local/bin", None),
                    ("usr/local/bin/gcc", b"#!/bin/sh\n")])  # fmt: skip
    replaced = _layer([("usr/local/bin", None), ("usr/local/bin/tool", b"#!/bin/sh\n"),
                       ("usr/local/bin/.wh..wh..opq", b"")])  # fmt: skip
    kept = _layer([("usr/local/bin", None), ("usr/local/bin/tool", b"#!/bin/sh\n")])
    hidden = _load_image(docker, tmp_path, "floe-test/opaque-whiteout:e2e", [lower, replaced])
    visible = _load_image(docker, tmp_path, "floe-test/no-whiteout:e2e", [lower, kept])

    scan = scan_image(docker, hidden)
    assert "usr/local/bin/tool" in scan.paths
    assert "usr/local/bin/gcc" not in scan.paths
    checks = {c.name: c for c in inspect_image(docker, hidden, run_checks=False).checks}
    assert checks["no compilers"].passed, checks["no compilers"].detail
    checks = {c.name: c for c in inspect_image(docker, visible, run_checks=False).checks}
    assert checks["no compilers"].detail == "usr/local/bin/gcc"
