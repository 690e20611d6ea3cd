"""The offline install end to end: one side publishes a signed release of the platform's own
images (the project's publish functions, floe_deploy.testing.bundles) and exports it with
`invoke bundle.export`; that registry is gone before the site imports the bundle with `invoke
bundle.import` into Debian's distribution registry with TLS from its own CA and htpasswd logins.
`invoke helm.smoke --values prod --tls --pull-from SITE` then pulls every image from there into
an empty image store and plays prod's values against a Postgres that requires TLS.

Real: the Docker engine, both registries, cosign, oras, syft, the dagster chart's templates,
podman pulling and running every rendered container, Postgres with TLS, Dagster, Cube, S3.
Stand-ins (protocol stand-ins, said so in the smoke's report): the Kubernetes API dagster-k8s
calls, and prod's Iceberg REST catalog (Polaris cannot run here), served over TLS by pyiceberg's
SQL catalog. It writes build/reports/offline-install.json for benchmarks/bench_bundle.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

from e2e.test_helm_smoke import nothing_left, smoke
from floe_deploy.console import Console
from floe_deploy.helm.smoke import SMOKE_IMAGES
from floe_deploy.images.build import BuildReport, BuiltImage, host_platform
from floe_deploy.images.services import stack_images
from floe_deploy.settings import load_settings
from floe_deploy.testing import OFFLINE_REPORT, run_task
from floe_deploy.testing.bundles import stage_release
from floe_deploy.testing.registries import (
    PrivateRegistry,
    registry_log_length,
    registry_process,
    served,
    write_docker_login,
)

pytestmark = pytest.mark.timeout(2400)

OFFLINE_VERSION = "8.8.8"
SITE_PREFIX = "site/floe"


@dataclass(frozen=True)
class OfflineSite:
    """The air-gapped site: its private registry holding the imported bundle, and the
    environment the smoke runs with there (its login, its CA)."""

    registry: PrivateRegistry
    env: dict[str, str]
    bundle: dict[str, Any]


def _platform_images() -> BuildReport:
    """The images the smoke plays, as this machine built them (its own platform only)."""
    console = Console()
    _, references = stack_images(load_settings(), SMOKE_IMAGES, console, rebuild=False)
    docker = DockerClient()
    built = []
    for name, reference in references.items():
        inspected = docker.image.inspect(reference)
        built.append(BuiltImage(image=name, platform=host_platform(), reference=reference,
                                image_id=inspected.id, size_bytes=inspected.size, seconds=0))  # fmt: skip
    return BuildReport(tag=OFFLINE_VERSION, images=built)


@pytest.fixture(scope="module")
def offline_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineSite]:
    """One side publishes a signed release of the platform's images and exports it with
    `bundle.export`; that registry is gone before the site imports it with `bundle.import`."""
    root = tmp_path_factory.mktemp("offline")
    with registry_process(root / "site") as site, pytest.MonkeyPatch.context() as patch:
        config = root / "docker"
        write_docker_login(config, site.address, site.files.username, site.files.password)
        env = {"DOCKER_CONFIG": str(config), "COSIGN_PASSWORD": ""}
        for name, value in env.items():
            patch.setenv(name, value)
        archive = root / "floe-bundle.tar"
        with registry_process(root / "release", private=False) as release_registry:
            release = stage_release(root, release_registry.address, "acme/floe",
                                    _platform_images(), OFFLINE_VERSION)  # fmt: skip
            started = time.monotonic()
            exported = run_task("bundle.export", "--release", str(release.record_file),
                                "--output", str(archive), "--json", env=env, timeout=1200)  # fmt: skip
            export_seconds = time.monotonic() - started
        assert exported.returncode == 0, exported.stderr[-3000:]
        env |= {"FLOE_REGISTRY_CA": str(site.files.ca_file)}
        started = time.monotonic()
        landed = run_task("bundle.import", str(archive), "--to", f"{site.address}/{SITE_PREFIX}",
                          "--key", str(release.public_key), "--json", env=env, timeout=1200)  # fmt: skip
        import_seconds = time.monotonic() - started
        assert landed.returncode == 0, landed.stderr[-3000:]
        bundle = {"images": sorted(SMOKE_IMAGES), "platforms": [host_platform()],
                  "size_bytes": archive.stat().st_size, "export_seconds": round(export_seconds, 2),
                  "import_seconds": round(import_seconds, 2)}  # fmt: skip
        yield OfflineSite(site, env, bundle)


@pytest.mark.requirement("007-FR-059", evidence="real")
def test_prod_values_install_offline_from_an_imported_bundle(offline_site: OfflineSite) -> None:
    """Prod's values, every image pulled from the site's registry (TLS, login) into an empty
    image store, Postgres requiring TLS that prod's clients verify (verify-full) against the
    private CA the chart renders; the REST catalog is the stand-in over TLS. Everything else is
    prod's (two webserver replicas, the preflight hook, run pods as runK8sConfig says, step logs
    in S3). Pulls are counted on both sides: podman's event log and the registry's request log
    during the smoke (the manifests served by tag are the pulls', layers downloaded for each)."""
    registry = offline_site.registry
    site = f"{registry.address}/{SITE_PREFIX}"
    log_before = registry_log_length(registry)
    started = time.monotonic()
    code, report = smoke(
        "--values", "prod", "--tls", "--set", f"imageRegistry={site}",
        "--pull-from", site, "--tag", OFFLINE_VERSION, env=offline_site.env, timeout=1800,
    )  # fmt: skip
    smoke_seconds = time.monotonic() - started
    assert code == 0, json.dumps(report, indent=1)
    webservers = [w for w in report["workloads"] if w["workload"].endswith("-webserver")]
    assert len(webservers) == 2
    assert report["run_status"] == "SUCCESS"
    assert report["rows_in_cube"] > 0
    assert report["checks"]["Job/floe-floe-preflight exit code"] == "ok: 0"
    assert report["checks"]["step logs in S3 (S3ComputeLogManager)"].startswith("ok: ")
    assert report["checks"]["Postgres refuses a connection without TLS"].startswith("ok: ")
    assert any("REST catalog" in s for s in report["substitutions"])
    assert any("Dagster verify-full, marts and Cube verify-full" in s
               for s in report["substitutions"]), report["substitutions"]  # fmt: skip
    assert (
        report["checks"]["the values' imageRegistry is the registry pulled from"] == f"ok: {site}"
    )
    pulls = report["pulls"]
    assert pulls
    assert all(reference.startswith(f"{site}/") for reference in pulls), pulls
    pulled = {reference.removeprefix(f"{site}/").split(":")[0] for reference in pulls}
    assert {"dagster", "postgres", "s3", "cube"} <= pulled <= set(SMOKE_IMAGES)
    # The registry's side, during the smoke: the manifests it served by tag are the pulls' (podman
    # asks again for an image it holds when another pod names it), and each pulled
    # repository's layers were downloaded (the store started empty).
    by_tag = {
        m for m in served(registry, "manifests", after_line=log_before) if ":sha256:" not in m
    }
    assert by_tag == {r.removeprefix(f"{registry.address}/") for r in pulls}
    blobs = served(registry, "blobs", after_line=log_before)
    for image in pulled:
        assert any(b.startswith(f"{SITE_PREFIX}/{image}:") for b in blobs), (image, blobs)
    OFFLINE_REPORT.parent.mkdir(parents=True, exist_ok=True)
    OFFLINE_REPORT.write_text(json.dumps(offline_site.bundle | {
        "pulls": len(pulls), "smoke_seconds": round(smoke_seconds, 1),
        "smoke_timeline": report["seconds"],
    }, indent=2))  # fmt: skip
    nothing_left()


@pytest.mark.requirement("007-FR-059", evidence="real")
def test_a_wrong_login_or_an_untrusted_registry_is_one_line_with_its_remedy(
    offline_site: OfflineSite, tmp_path: Path
) -> None:
    """The first pull (the played Postgres) fails as the registry answered, and nothing is left."""
    address = offline_site.registry.address
    write_docker_login(tmp_path / "wrong", address, offline_site.registry.files.username, "wrong")
    pull = ("helm.smoke", "--values", "prod", "--pull-from", f"{address}/{SITE_PREFIX}",
            "--tag", OFFLINE_VERSION)  # fmt: skip
    refused = run_task(*pull, env=offline_site.env | {"DOCKER_CONFIG": str(tmp_path / "wrong")})
    assert refused.returncode != 0
    assert f"{address} refused the stored credentials" in refused.stderr, refused.stderr[-2000:]
    assert f"docker login {address}" in refused.stderr
    untrusted = run_task(*pull, env=offline_site.env | {"FLOE_REGISTRY_CA": "",
                                                        "FLOE_CA_BUNDLE": ""})  # fmt: skip
    assert untrusted.returncode != 0
    assert f"the TLS certificate of {address} is not trusted" in untrusted.stderr, untrusted.stderr[
        -2000:
    ]
    nothing_left()
