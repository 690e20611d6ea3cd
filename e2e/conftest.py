"""The e2e tests' fixtures: the container plugin (services through testcontainers) and Docker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from python_on_whales import DockerClient

from floe_deploy.testing import task_json

pytest_plugins = ["floe_deploy.testing.containers"]

TEST_LABEL = "org.floe-deploy.test"
"""Images a test builds carry this label, so the session can remove them."""


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
