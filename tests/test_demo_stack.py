"""The compose demo's configuration, without starting it: the compose file as `docker compose
config` resolves it, credentials, CompiledArtifacts, port and profile checks."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from floe_demo.config import load_artifacts
from floe_deploy.demo.diagnosis import ServiceState
from floe_deploy.demo.operations import check_ports, check_profiles
from floe_deploy.demo.stack import DEFAULT_SERVICES, OPTIONAL_PROFILES, DemoStack, StackImages
from floe_deploy.errors import FloeError
from floe_deploy.images.source import ResolvedSource
from floe_deploy.settings import DemoPorts, load_settings
from floe_deploy.testing import free_port, run_task

pytestmark = pytest.mark.requirement("007-FR-030", evidence="real")


@pytest.fixture
def stack(tmp_path: Path) -> DemoStack:
    return DemoStack(load_settings(state_dir=tmp_path, demo={"project": "floe-unit"}))


def written(stack: DemoStack, source: ResolvedSource = ResolvedSource.HERMETIC) -> DemoStack:
    images = StackImages(
        source=source,
        references={name: f"floe/{name}:test" for name in ("postgres", "s3", "cube", "dagster")},
    )
    stack.write_artifacts(stack.demo_config(None, None))
    stack.write_environment(images)
    return stack


def compose_config(stack: DemoStack, profiles: list[str]) -> dict[str, Any]:
    config = stack.compose(profiles).compose.config(return_json=True)
    assert isinstance(config, dict)
    return config


def test_default_services_have_healthchecks_and_loopback_ports(stack: DemoStack) -> None:
    services = compose_config(written(stack), [])["services"]
    assert set(services) == set(DEFAULT_SERVICES)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes beyond loopback"
    assert services["webserver"]["ports"][0]["published"] == str(stack.ports.dagster)
    assert (
        services["code-location"]["environment"]["FLOE_ARTIFACTS"]
        == "/opt/floe/config/artifacts.json"
    )


@pytest.mark.parametrize("profile", sorted(OPTIONAL_PROFILES))
def test_each_optional_profile_adds_only_its_services(stack: DemoStack, profile: str) -> None:
    services = compose_config(written(stack), [profile])["services"]
    assert set(services) == set(DEFAULT_SERVICES) | set(OPTIONAL_PROFILES[profile])


@pytest.mark.requirement("007-FR-015", evidence="real")
def test_profile_images_come_through_the_mirror(tmp_path: Path) -> None:
    """FLOE_MIRROR rewrites the profiles' upstream images too, as images.mirror copies them."""
    mirrored = DemoStack(load_settings(state_dir=tmp_path, mirror="mirror.internal:5000"))
    services = compose_config(written(mirrored), ["trino", "polaris", "observability"])["services"]
    assert services["trino"]["image"] == "mirror.internal:5000/trinodb/trino:476"
    assert services["marquez"]["image"] == "mirror.internal:5000/marquezproject/marquez:0.51.1"
    images = {services[s]["image"] for s in ("trino", "polaris", "otel-collector", "marquez")}
    assert {i.removeprefix("mirror.internal:5000/") for i in images} <= set(mirror_sources_values())


def mirror_sources_values() -> list[str]:
    from floe_deploy.release.mirror import mirror_sources  # noqa: PLC0415 (renders the chart)

    return list(mirror_sources(load_settings()).values())


def test_s3_healthcheck_follows_the_image_source(stack: DemoStack) -> None:
    upstream = compose_config(written(stack, ResolvedSource.UPSTREAM), [])["services"]["s3"]
    assert "mc ready local" in " ".join(upstream["healthcheck"]["test"])
    hermetic = compose_config(written(stack, ResolvedSource.HERMETIC), [])["services"]["s3"]
    assert "node -e" in " ".join(hermetic["healthcheck"]["test"])


def test_credentials_are_made_once_and_private(stack: DemoStack) -> None:
    first = stack.credentials()
    assert stack.credentials() == first
    assert (stack.credentials_file.stat().st_mode & 0o777) == 0o600
    written(stack)
    assert (stack.env_file.stat().st_mode & 0o777) == 0o600
    assert first.postgres_password.get_secret_value() in stack.env_file.read_text()
    assert first.postgres_password.get_secret_value() not in stack.artifacts_file.read_text()


def test_artifacts_validate_and_have_a_host_view(stack: DemoStack) -> None:
    written(stack)
    inside = load_artifacts(stack.artifacts_file)
    assert inside.storage.endpoint == "http://s3:9000"
    assert inside.catalog.postgres is not None
    assert inside.catalog.postgres.host == "postgres"
    host = stack.artifacts("host")
    assert host.storage.endpoint == f"http://127.0.0.1:{stack.ports.s3}"
    assert host.serving.postgres.port == stack.ports.postgres


def test_demo_options_are_kept_for_later_ups(stack: DemoStack) -> None:
    assert stack.write_artifacts(stack.demo_config(25, "* * * * *")) is True
    kept = stack.demo_config(None, None)
    assert (kept.batch_size, kept.schedule_interval) == (25, "* * * * *")
    assert stack.write_artifacts(kept) is False


def own_ports() -> dict[str, int]:
    """A free port for every demo service: the defaults may be held by the user's own demo."""
    return {name: free_port() for name in DemoPorts.model_fields}


def test_a_taken_port_names_its_setting(tmp_path: Path) -> None:
    ports = own_ports()
    port = ports["cube"]
    stack = DemoStack(load_settings(state_dir=tmp_path, demo={"ports": ports}))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(FloeError, match=f"port {port} .*cube") as error:
            check_ports(stack, [], [])
        assert "FLOE_DEMO__PORTS__CUBE" in error.value.remediation
        ours = ServiceState(
            service="cube", container="c", id="i", state="running",
            ports=[f"127.0.0.1:{port}->4000/tcp"],
        )  # fmt: skip
        check_ports(stack, [], [ours])


def test_every_profile_port_is_a_setting_off_the_registrys_port(tmp_path: Path) -> None:
    ports = own_ports()
    stack = DemoStack(load_settings(state_dir=tmp_path, demo={"ports": ports}))
    published = stack.host_ports(["trino", "polaris", "observability"])
    assert {published[s] for s in ("trino", "polaris", "otel-collector", "marquez")} == {
        ports[name] for name in ("trino", "polaris", "otlp", "marquez")
    }
    assert (
        5000
        not in DemoStack(load_settings(state_dir=tmp_path)).host_ports(["observability"]).values()
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["marquez"]))
        holder.listen()
        with pytest.raises(FloeError, match=f"port {ports['marquez']} .*marquez") as error:
            check_ports(stack, ["observability"], [])
    assert "FLOE_DEMO__PORTS__MARQUEZ=<port>" in error.value.remediation


def test_profiles_unknown_or_offline_are_refused() -> None:
    with pytest.raises(FloeError, match="unknown profile 'spark'"):
        check_profiles(["spark"])
    with pytest.raises(FloeError, match="needs upstream images"):
        check_profiles(["trino"], ResolvedSource.HERMETIC)
    check_profiles(["trino"], ResolvedSource.UPSTREAM)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo.logs", "-s", "nope"], "unknown service 'nope'"),
        (["demo.up", "--profile", "spark"], "unknown profile 'spark'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = run_task(*args, env={"FLOE_STATE_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert message in done.stderr


def test_credentials_task_needs_an_up_first(tmp_path: Path) -> None:
    done = run_task("demo.credentials", env={"FLOE_STATE_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "run `invoke demo.up` first" in done.stderr
