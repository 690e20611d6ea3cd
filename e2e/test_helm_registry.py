"""Chart dependencies, packaging, publishing and signature checks against a real OCI registry
(a registry container per test), offline.

The official dagster chart cannot be downloaded here: the labelled stand-in from
tests/fixtures/dagster-standin plays it, which proves dependency plumbing (mirror, update, build),
never compatibility with the official chart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from floe_deploy.helm.chart import CHART_DIR, dependencies
from floe_deploy.testing import free_port, run_task
from floe_deploy.testing.charts import chart_with_stand_in

pytestmark = pytest.mark.requirement("007-FR-022", evidence="real")


def task_ok(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_task(*args, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bare_chart(target: Path) -> Path:
    chart = target / "floe-dagster"
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts"))
    return chart


def point_dependency_at(chart: Path, repository: str) -> None:
    """Chart.yaml's dagster dependency from another repository (a test registry)."""
    yaml = YAML()
    metadata = yaml.load((chart / "Chart.yaml").read_text())
    metadata["dependencies"][0]["repository"] = repository
    with (chart / "Chart.yaml").open("w") as file:
        yaml.dump(metadata, file)


def test_mirror_then_deps_from_the_mirror_then_validate(registry: str, tmp_path: Path) -> None:
    mirror = f"oci://{registry}/charts"
    source = chart_with_stand_in(tmp_path / "online")
    pushed = task_ok("helm.mirror", "--to", mirror, "--chart", str(source))["mirrored"]
    assert [(p["name"], p["version"]) for p in pushed] == [("dagster", "1.13.27")]
    assert pushed[0]["digest"].startswith("sha256:")

    offline = bare_chart(tmp_path / "air-gapped")
    report = task_ok("helm.deps", "--mirror", mirror, "--chart", str(offline))
    assert report["source"] == mirror
    (dependency,) = dependencies(offline)
    assert dependency.present
    assert dependency.stand_in
    assert (offline / "charts" / "dagster-1.13.27.tgz").is_file()
    assert YAML().load((offline / "Chart.yaml").read_text())["dependencies"][0]["repository"] == (
        "https://dagster-io.github.io/helm"
    )
    validated = task_ok("helm.validate", "--chart", str(offline))
    assert validated["ok"] is True
    assert [(d["name"], d["stand_in"]) for d in validated["dependencies"]] == [("dagster", True)]


def test_an_unreachable_repository_is_a_clear_error(tmp_path: Path) -> None:
    chart = bare_chart(tmp_path)
    point_dependency_at(chart, f"oci://127.0.0.1:{free_port()}/charts")
    done = run_task("helm.deps", "--chart", str(chart))
    assert done.returncode == 2
    assert "could not be fetched" in done.stderr
    assert "helm.deps --mirror" in done.stderr
    assert "Traceback" not in done.stderr


def test_package_publish_sign_and_verify(registry: str, tmp_path: Path) -> None:
    env = {"FLOE_STATE_DIR": str(tmp_path / "state")}
    chart = chart_with_stand_in(tmp_path)
    packaged = task_ok("helm.package", "--chart", str(chart), "--version", "1.2.3-rc.1", env=env)
    assert packaged["version"] == packaged["app_version"] == "1.2.3-rc.1"
    assert Path(packaged["archive"]).is_file()

    target = f"oci://{registry}/charts"
    published = task_ok(
        "helm.publish",
        "--registry",
        target,
        "--chart",
        str(chart),
        "--version",
        "1.2.3-rc.1",
        env=env,
    )
    assert published["reference"] == f"{target}/floe-dagster:1.2.3-rc.1"
    assert published["digest"].startswith("sha256:")
    assert published["signed"] is True

    verified = task_ok("helm.verify", published["reference"], env=env)
    assert verified["signature_ok"] is True
    assert verified["digest"] == published["digest"]

    again = run_task(
        "helm.publish",
        "--registry",
        target,
        "--chart",
        str(chart),
        "--version",
        "1.2.3-rc.1",
        env=env,
    )
    assert again.returncode == 2
    assert "never replaced" in again.stderr

    other_keys = {"FLOE_STATE_DIR": str(tmp_path / "other-state")}
    wrong = run_task("helm.verify", published["reference"], "--json", env=other_keys)
    assert wrong.returncode == 3
    assert json.loads(wrong.stdout)["signature_ok"] is False

    unsigned = run_task("helm.verify", f"{target}/floe-dagster:9.9.9", "--json", env=env)
    assert unsigned.returncode == 3
    assert json.loads(unsigned.stdout)["digest"] is None


def test_update_locks_and_build_rebuilds_from_the_lock(registry: str, tmp_path: Path) -> None:
    """A chart whose dependency repository is a (test) OCI registry: deps resolves and writes
    Chart.lock; with charts/ emptied, deps rebuilds exactly the locked version from the lock."""
    source = chart_with_stand_in(tmp_path / "online")
    task_ok("helm.mirror", "--to", f"oci://{registry}/charts", "--chart", str(source))
    chart = bare_chart(tmp_path / "locked")
    point_dependency_at(chart, f"oci://{registry}/charts")

    assert task_ok("helm.deps", "--chart", str(chart))["source"] == "Chart.yaml repositories"
    lock = YAML(typ="safe").load((chart / "Chart.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [("dagster", "1.13.27")]
    assert lock["digest"].startswith("sha256:")

    shutil.rmtree(chart / "charts")
    assert task_ok("helm.deps", "--chart", str(chart))["source"] == "Chart.lock"
    assert (chart / "charts" / "dagster-1.13.27.tgz").is_file()
