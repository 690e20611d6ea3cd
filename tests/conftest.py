"""Fast tests: no Docker. Real services on loopback come from the local_services plugin;
pytester runs inner pytest sessions for the plugins' own tests.

Every default demo port is held for the whole run (where nothing holds it already): a user runs
these tests beside their own demo, so a test that reads a default port instead of taking its own
fails here on any machine, not only beside a running demo."""

from __future__ import annotations

import socket

import pytest

from floe_deploy.settings import DemoPorts, Settings, load_settings

pytest_plugins = ["pytester", "floe_deploy.testing.local_services"]

_held_ports: list[socket.socket] = []


def _hold(port: int) -> socket.socket | None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", port))
    except OSError:  # taken already, as by the user's demo: held either way
        holder.close()
        return None
    holder.listen()
    return holder


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller holds them
        return
    defaults = [field.default for field in DemoPorts.model_fields.values()]
    _held_ports.extend(held for port in defaults if (held := _hold(port)) is not None)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _held_ports:
        _held_ports.pop().close()


@pytest.fixture(scope="session")
def helm_settings() -> Settings:
    """The toolkit's settings as a user's shell gives them (FLOE_SCHEMAS_DIR, state dir)."""
    return load_settings()
