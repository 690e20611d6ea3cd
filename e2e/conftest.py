"""Shared fixtures of the Docker-backed tests: they need the platform from `invoke platform.up`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from python_on_whales import DockerClient

from floe_deploy.testing import task_json

TEST_LABEL = "org.floe-deploy.test"
"""Every container and image a test makes carries this label, so cleanup can find them."""


@pytest.fixture(scope="session")
def docker() -> Iterator[DockerClient]:
    """The real engine; a run whose platform is down fails here with the command that fixes it."""
    status = task_json("platform.status")
    if not status.get("engine", {}).get("reachable"):
        pytest.fail("the Docker engine does not answer: run `uv run invoke platform.up` first")
    client = DockerClient()
    yield client
    for image in client.image.list(filters=[("label", TEST_LABEL)]):
        client.image.remove(image, force=True)
