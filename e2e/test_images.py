"""The image pipeline end to end: golden base and every image for both platforms, published to a
throwaway registry with manifest lists, SBOMs and signatures, verified, and policy-checked."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from python_on_whales import DockerClient

from e2e.conftest import TEST_LABEL
from floe_deploy.errors import FloeError
from floe_deploy.images.build import BuildReport, BuiltImage
from floe_deploy.images.catalog import CATALOG, upstream_references
from floe_deploy.images.policy import inspect_image
from floe_deploy.images.publish import refuse_overwriting_releases
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.settings import load_settings
from floe_deploy.testing import free_port, run_task, task_json
from floe_deploy.testing.containers import running_registry

IMAGES = [spec.name for spec in CATALOG]


@pytest.fixture(scope="module")
def publish_registry(service_image: Callable[[str], str]) -> Iterator[str]:
    """A registry of its own for this module (the registry image)."""
    with running_registry(service_image("registry"), "publish_registry") as address:
        yield address


@pytest.fixture(scope="module")
def published(publish_registry: str) -> dict[str, Any]:
    """`invoke images.publish` of every image for linux/amd64 and linux/arm64."""
    report = task_json("images.publish", "--registry", publish_registry)
    assert "error" not in report, report
    return {image["image"]: image for image in report["images"]}


def index_platforms(registry: str, repository: str, digest: str) -> set[str]:
    index = httpx.get(
        f"http://{registry}/v2/{repository}/manifests/{digest}",
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
        },
    ).json()
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}"
        for m in index["manifests"]
        if m["platform"]["os"] != "unknown"
    }


@pytest.mark.requirement("007-FR-007")
@pytest.mark.requirement("007-FR-008")
@pytest.mark.requirement("007-FR-009")
@pytest.mark.requirement("007-FR-010")
def test_every_image_is_published_for_both_platforms(
    published: dict[str, Any], publish_registry: str
) -> None:
    assert set(published) == set(IMAGES)
    for image, entry in published.items():
        repository = entry["repository"].split("/", 1)[1]
        assert index_platforms(publish_registry, repository, entry["digest"]) == {
            "linux/amd64",
            "linux/arm64",
        }, image


@pytest.mark.requirement("007-FR-012")
def test_verify_finds_signature_and_sbom(published: dict[str, Any], publish_registry: str) -> None:
    tag = published["dagster"]["tags"][0]
    report = task_json("images.verify", "--registry", publish_registry, "--tag", tag)
    assert report["ok"] is True, report
    assert {v["image"] for v in report["images"]} == set(IMAGES)


@pytest.mark.requirement("007-FR-012")
def test_sboms_list_the_locked_packages(published: dict[str, Any]) -> None:
    def purls(image: str) -> set[str]:
        document = json.loads(Path(published[image]["sbom"]).read_text())
        return {component["purl"] for component in document["components"]}

    assert any(p.startswith("pkg:pypi/dagster@1.13.27") for p in purls("dagster"))
    assert any(p.startswith("pkg:deb/debian/postgresql-15@") for p in purls("postgres"))
    assert any(p.startswith("pkg:npm/s3rver@3.7.1") for p in purls("s3"))
    assert any(p.startswith("pkg:npm/%40cubejs-backend/server@0.32.9") for p in purls("cube"))


@pytest.mark.requirement("007-FR-007")
def test_arm64_runtime_runs_under_emulation(
    published: dict[str, Any], docker: DockerClient
) -> None:
    tag = published["dagster"]["tags"][0]
    output = docker.run(
        f"floe/dagster:{tag}-arm64", ["-m"], entrypoint="uname", platform="linux/arm64", remove=True
    )
    assert output == "aarch64"


@pytest.mark.requirement("007-FR-013")
@pytest.mark.requirement("007-FR-014")
@pytest.mark.parametrize("image", IMAGES)
def test_policy_checks_pass(published: dict[str, Any], image: str) -> None:
    done = run_task(
        "images.inspect",
        image,
        "--platform",
        "linux/amd64",
        "--tag",
        published[image]["tags"][0],
        "--json",
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


@pytest.mark.requirement("007-FR-034")
def test_floe_preflight_runs_inside_the_runtime_image(
    published: dict[str, Any], docker: DockerClient
) -> None:
    tag = published["dagster"]["tags"][0]
    output = docker.run(
        f"floe/dagster:{tag}-amd64", ["--check", "compute", "--json"], entrypoint="floe-preflight",
        remove=True, read_only=True, tmpfs=["/tmp"],
    )  # fmt: skip
    (result,) = json.loads(str(output))["results"]
    assert result["status"] == "ok"
    assert result["type"] == "duckdb"


@pytest.mark.requirement("007-FR-013")
def test_a_planted_secret_fails_the_checks(
    published: dict[str, Any], docker: DockerClient, tmp_path: Path
) -> None:
    """A private key added in one layer and deleted in the next is still found; so is a secret ENV."""
    body = base64.b64encode(secrets.token_bytes(48)).decode()
    key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    (tmp_path / "deploy.pem").write_text(key)
    base = f"floe/dagster:{published['dagster']['tags'][0]}-amd64"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nCOPY deploy.pem /home/floe/deploy.pem\nUSER root\nRUN rm /home/floe/deploy.pem\n"
        "USER 1000:1000\nENV DB_PASSWORD=hunter2hunter2\n"
    )
    tag = "floe-test/planted-secret:e2e"
    docker.buildx.build(
        tmp_path, tags=[tag], platforms=["linux/amd64"], load=True, labels={TEST_LABEL: "1"}
    )
    checks = {c.name: c for c in inspect_image(docker, tag, run_checks=False).checks}
    assert not checks["no secrets in layers"].passed
    assert "home/floe/deploy.pem (private key)" in checks["no secrets in layers"].detail
    assert not checks["no secrets in env"].passed
    assert "DB_PASSWORD" in checks["no secrets in env"].detail


@pytest.mark.requirement("007-FR-011")
def test_a_release_tag_with_another_digest_is_refused(
    published: dict[str, Any], publish_registry: str, docker: DockerClient
) -> None:
    settings = load_settings(registry=publish_registry, platforms="linux/amd64")
    tag = published["registry"]["tags"][0]
    ours = docker.image.inspect(f"floe/registry:{tag}-amd64")
    build = BuildReport(
        tag="9.9.9",
        images=[BuiltImage(image="registry", platform="linux/amd64", reference=f"floe/registry:{tag}-amd64",
                           image_id=ours.id, size_bytes=0, seconds=0)],
    )  # fmt: skip
    release = ReleaseVersion(version="9.9.9", tags=["9.9.9", "9.9"], revision="x", is_release=True)
    repo = f"{publish_registry}/floe/registry"
    docker.buildx.imagetools.create(sources=[f"{repo}:{tag}-amd64"], tags=[f"{repo}:9.9.9"])
    refuse_overwriting_releases(settings, build, release, force=False)
    other = published["s3"]["repository"]
    docker.buildx.imagetools.create(sources=[f"{other}:{tag}-amd64"], tags=[f"{repo}:9.9.9"])
    with pytest.raises(
        FloeError, match=r"release 9\.9\.9 of registry already exists .* with another digest"
    ):
        refuse_overwriting_releases(settings, build, release, force=False)
    refuse_overwriting_releases(settings, build, release, force=True)


@pytest.mark.requirement("007-FR-009")
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
    assert unreachable.returncode == 2
    assert "no registry answers" in unreachable.stderr.splitlines()[0]
    no_docker = run_task(
        "images.build", "--image", "registry", env={"DOCKER_HOST": "unix:///nonexistent.sock"}
    )
    assert no_docker.returncode == 2
    assert "the Docker engine does not answer" in no_docker.stderr


@pytest.mark.requirement("007-FR-015")
@pytest.mark.requirement("007-FR-016")
def test_mirror_setting_rewrites_references_and_auto_detects(
    published: dict[str, Any], publish_registry: str, registry: str, docker: DockerClient
) -> None:
    """Stand-ins for the upstream images (our own images under the upstream names, in a throwaway
    registry playing the mirror) prove the plumbing: auto-detection, rewriting, and copying on."""
    tag = published["registry"]["tags"][0]
    env = {"FLOE_MIRROR": registry, "FLOE_IMAGE_SOURCE": "auto"}
    empty = run_task("images.build", "--image", "registry", "--dry-run", "--json", env=env)
    assert json.loads(empty.stdout)["source"] == "hermetic"
    for reference in upstream_references("3.11").values():
        path = reference if "/" in reference else f"library/{reference}"
        docker.buildx.imagetools.create(
            sources=[f"{publish_registry}/floe/registry:{tag}"], tags=[f"{registry}/{path}"]
        )
    plan = json.loads(
        run_task("images.build", "--image", "dagster", "--dry-run", "--json", env=env).stdout
    )
    assert plan["source"] == "upstream"
    assert plan["targets"][0]["build_args"]["BASE_IMAGE"] == f"{registry}/library/python:3.11-slim"
    copy = task_json("images.mirror", "--to", f"{publish_registry}/mirror", env=env)
    assert {m["target"] for m in copy["images"]} == {
        f"{publish_registry}/mirror/{r if '/' in r else 'library/' + r}"
        for r in upstream_references("3.11").values()
    }
    catalog = httpx.get(f"http://{publish_registry}/v2/_catalog").json()["repositories"]
    assert "mirror/library/postgres" in catalog
    offline = run_task(
        "images.mirror",
        "--to",
        f"{publish_registry}/m2",
        env={"FLOE_MIRROR": f"127.0.0.1:{free_port()}"},
    )
    assert offline.returncode == 2
    assert "no upstream registry is reachable" in offline.stderr
