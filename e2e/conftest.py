"""The e2e tests' fixtures: the container plugin (services through testcontainers) and Docker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

from floe_deploy.testing import task_json
from floe_deploy.testing.containers import RUN_ID

pytest_plugins = ["floe_deploy.testing.containers"]

TEST_LABEL = "org.floe-deploy.test"
TEST_IMAGE_LABELS = {TEST_LABEL: RUN_ID}
"""Images a test builds carry these, so the session removes its own (and not those of a run
beside it: the suite runs in two pytest-xdist workers)."""


LONGEST_FIRST = (
    "test_images.py",
    "test_helm_smoke.py",
    "test_offline_install.py",
    "test_demo_stack.py",
    "test_bundle.py",
    "test_dagster_processes.py",
)
"""The modules that take minutes each (their fixtures build, publish, smoke or start stacks)."""
SMOKE_MODULES = ("test_helm_smoke.py", "test_offline_install.py")
"""Their smokes take turns on the machine's one podman network (helm.smoke's lock): on one
worker, neither worker sits idle waiting for the other's smoke."""
SMOKE_GROUP = "podman-smoke"


class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """`--dist loadfile`, with the smoke modules one unit of work between them, and the next unit
    handed to a worker only when one test of its current unit is left.

    xdist hands it at two left: a worker whose second-to-last test takes minutes (the offline
    smoke) then holds the next long module while the other worker runs dry.
    """

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return SMOKE_GROUP if Path(module).name in SMOKE_MODULES else module

    def _reschedule(self, node: WorkerController) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        if self._pending_of(self.assigned_work[node]) <= 1:
            self._assign_work_unit(node)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> ModuleScheduling:
    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first: pytest-xdist hands whole modules to its workers in collection
    order (`--no-loadscope-reorder`), so no worker is left with a long one at the end while the
    other idles."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def docker() -> Iterator[DockerClient]:
    """The real engine; a run whose platform is down fails here with the command that fixes it."""
    status = task_json("platform.status")
    if not status.get("engine", {}).get("reachable"):
        pytest.fail("the Docker engine does not answer: run `uv run invoke platform.up` first")
    client = DockerClient()
    yield client
    for image in client.image.list(filters=[("label", f"{TEST_LABEL}={RUN_ID}")]):
        client.image.remove(image, force=True)
