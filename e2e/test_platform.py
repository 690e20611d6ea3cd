"""platform.up / status / down against the real engine, QEMU and registry (Docker required)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from python_on_whales import DockerClient
from tenacity import retry, stop_after_delay, wait_fixed

from e2e.arm64_probe import aarch64_hello
from e2e.conftest import TEST_IMAGE_LABELS
from floe_deploy.testing import free_port, run_task, task_json

GB = 1024**3


def docker_text(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def status() -> dict[str, object]:
    return task_json("platform.status")  # type: ignore[no-any-return]


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_engine_items_match_the_engine(status: dict[str, dict[str, object]]) -> None:
    version = json.loads(docker_text("version", "--format", "{{json .}}"))
    engine = status["engine"]
    assert engine["reachable"] is True
    assert engine["server_version"] == version["Server"]["Version"]
    assert engine["api_version"] == version["Server"]["ApiVersion"]
    assert engine["client_version"] == version["Client"]["Version"]
    assert engine["storage_driver"] == docker_text("info", "--format", "{{.Driver}}")
    assert engine["root_dir"] == docker_text("info", "--format", "{{.DockerRootDir}}")


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_plugin_versions_match_the_plugins(status: dict[str, dict[str, object]]) -> None:
    assert str(status["tools"]["buildx_version"]) in docker_text("buildx", "version")
    assert str(status["tools"]["compose_version"]) in docker_text("compose", "version")


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_builder_platforms_match_buildx(status: dict[str, dict[str, object]]) -> None:
    listed = docker_text("buildx", "inspect")
    platforms = status["builder"]["platforms"]
    assert isinstance(platforms, list)
    assert {"linux/amd64", "linux/arm64"} <= set(platforms)
    for platform in platforms:
        assert platform in listed


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_arm64_emulation_really_runs_aarch64_code(
    status: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    assert status["emulation"]["arm64"] is True
    probe = tmp_path / "hello-arm64"
    probe.write_bytes(aarch64_hello())
    probe.chmod(0o755)
    assert (
        subprocess.run([str(probe)], capture_output=True, text=True, check=True).stdout
        == "aarch64\n"
    )


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_arm64_image_builds_and_runs(docker: DockerClient, tmp_path: Path) -> None:
    """The builder's linux/arm64 platform is real: build a FROM scratch arm64 image and run it."""
    (tmp_path / "hello").write_bytes(aarch64_hello())
    (tmp_path / "Dockerfile").write_text(
        'FROM scratch\nCOPY --chmod=755 hello /hello\nENTRYPOINT ["/hello"]\n'
    )
    tag = "floe-test/arm64-probe:e2e"
    docker.buildx.build(
        tmp_path, tags=[tag], platforms=["linux/arm64"], load=True, labels=TEST_IMAGE_LABELS
    )
    assert docker.image.inspect(tag).architecture == "arm64"
    output = docker.run(tag, platform="linux/arm64", remove=True, labels=TEST_IMAGE_LABELS)
    assert output == "aarch64"


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_registry_accepts_a_push(
    status: dict[str, dict[str, object]], docker: DockerClient, tmp_path: Path
) -> None:
    registry = status["registry"]
    assert registry["reachable"] is True
    assert registry["api_version"] == "registry/2.0"
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text("floe e2e\n")
    tag = f"{registry['address']}/floe-test/push-probe:e2e"
    docker.buildx.build(
        tmp_path, tags=[tag], platforms=["linux/amd64"], push=True, labels=TEST_IMAGE_LABELS
    )
    tags = httpx.get(f"http://{registry['address']}/v2/floe-test/push-probe/tags/list").json()
    assert "e2e" in tags["tags"]


def _system_free_gb(disk_path: str) -> tuple[float, float]:
    """Free disk at `disk_path` and available memory, as `df` and `free` see them."""
    free_b = subprocess.run(["free", "-b"], capture_output=True, text=True, check=True).stdout
    return shutil.disk_usage(disk_path).free / GB, int(free_b.splitlines()[1].split()[6]) / GB


@retry(stop=stop_after_delay(120), wait=wait_fixed(2), reraise=True)
def _status_between_steady_readings() -> tuple[dict[str, object], tuple[float, float]]:
    """platform.status taken between two readings of the system that agree: other work on the
    machine (another e2e worker building or starting containers) moves both numbers."""
    disk_path = str(task_json("platform.status")["resources"]["disk_path"])
    before = _system_free_gb(disk_path)
    resources = task_json("platform.status")["resources"]
    after = _system_free_gb(disk_path)
    assert all(abs(b - a) < 0.25 for b, a in zip(before, after, strict=True)), (before, after)
    return resources, after


@pytest.mark.requirement("007-FR-004", evidence="real")
def test_disk_and_memory_match_the_system() -> None:
    resources, (free_disk, available) = _status_between_steady_readings()
    assert abs(float(str(resources["free_disk_gb"])) - free_disk) < 0.5
    assert abs(float(str(resources["free_memory_gb"])) - available) < 0.5


@pytest.fixture
def own_state(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private state dir and registry port, so these tests never touch the shared platform."""
    env = {"FLOE_STATE_DIR": str(tmp_path / "state"), "FLOE_REGISTRY": f"127.0.0.1:{free_port()}"}
    yield env
    run_task("platform.down", env=env)


@pytest.mark.requirement("007-FR-003", evidence="real")
@pytest.mark.requirement("007-FR-005", evidence="real")
def test_up_is_idempotent_and_down_stops_only_its_own(own_state: dict[str, str]) -> None:
    first = {
        c["component"]: c["action"] for c in task_json("platform.up", env=own_state)["components"]
    }
    assert first == {
        "docker engine": "already running",
        "arm64 emulation": "already running",
        "registry": "started",
    }
    again = {
        c["component"]: c["action"] for c in task_json("platform.up", env=own_state)["components"]
    }
    assert set(again.values()) == {"already running"}
    status = task_json("platform.status", env=own_state)
    assert status["registry"]["reachable"] is True
    assert status["registry"]["started_by_floe"] is True
    assert status["engine"]["started_by_floe"] is False

    down = {
        c["component"]: c["action"] for c in task_json("platform.down", env=own_state)["components"]
    }
    assert down["registry"] == "stopped"
    assert down["docker engine"].startswith("not started by floe-deploy")
    assert task_json("platform.status", env=own_state)["registry"]["reachable"] is False
    assert task_json("platform.status")["engine"]["reachable"] is True


def _silent_listener(port: int, stop: threading.Event) -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except TimeoutError:
                continue


@pytest.mark.requirement("007-FR-003", evidence="real")
@pytest.mark.requirement("007-FR-006", evidence="real")
def test_port_taken_is_one_clear_error_and_nothing_starts(own_state: dict[str, str]) -> None:
    port = int(own_state["FLOE_REGISTRY"].rsplit(":", 1)[1])
    stop = threading.Event()
    listener = threading.Thread(target=_silent_listener, args=(port, stop), daemon=True)
    listener.start()
    try:
        done = run_task("platform.up", env=own_state)
    finally:
        stop.set()
        listener.join()
    assert done.returncode == 2
    assert done.stderr.startswith(f"ERROR: port {port} on 127.0.0.1 is taken")
    assert "Remediation:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(Path(own_state["FLOE_STATE_DIR"]).glob("*.pid"))


@pytest.mark.requirement("007-FR-003", evidence="real")
@pytest.mark.requirement("007-FR-004", evidence="real")
def test_unreachable_engine_is_reported_not_started(own_state: dict[str, str]) -> None:
    env = own_state | {"DOCKER_HOST": f"unix://{own_state['FLOE_STATE_DIR']}/absent.sock"}
    up = run_task("platform.up", env=env)
    assert up.returncode == 2
    assert "does not answer" in up.stderr.splitlines()[0]
    status = run_task("platform.status", "--json", env=env)
    assert status.returncode == 3
    payload = json.loads(status.stdout)
    assert payload["engine"]["reachable"] is False
    assert payload["healthy"] is False
    assert any("does not answer" in problem for problem in payload["problems"])
    assert not list(Path(own_state["FLOE_STATE_DIR"]).glob("*.pid"))


@pytest.mark.requirement("007-FR-003", evidence="real")
def test_too_little_disk_refuses_before_starting(own_state: dict[str, str]) -> None:
    done = run_task("platform.up", env=own_state | {"FLOE_MIN_FREE_DISK_GB": "1000000"})
    assert done.returncode == 2
    assert "below the 1000000.0 GB minimum" in done.stderr.splitlines()[0]
    assert not list(Path(own_state["FLOE_STATE_DIR"]).glob("*.pid"))
