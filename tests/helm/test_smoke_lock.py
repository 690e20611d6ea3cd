"""Smokes share one podman network (floe-smoke): a second smoke on the machine waits for the
first to end instead of removing its pods (the e2e modules that smoke run in two workers)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from floe_deploy.console import Console
from floe_deploy.helm.smoke import one_smoke_at_a_time

pytestmark = pytest.mark.requirement("007-FR-043", evidence="real")


class WaitingConsole(Console):
    """Says when the smoke announced that it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def line(self, text: str) -> None:
        if "waiting for the other helm.smoke" in text:
            self.waiting.set()
        super().line(text)


def test_a_second_smoke_waits_until_the_first_has_ended(tmp_path: Path) -> None:
    lock_file = tmp_path / "floe-smoke.lock"
    first_inside, first_may_end, order = threading.Event(), threading.Event(), []
    second_console = WaitingConsole()

    def first() -> None:
        with one_smoke_at_a_time(Console(), lock_file):
            first_inside.set()
            first_may_end.wait(timeout=60)
            order.append("first ended")

    def second() -> None:
        with one_smoke_at_a_time(second_console, lock_file):
            order.append("second began")

    holder = threading.Thread(target=first)
    holder.start()
    assert first_inside.wait(timeout=60)
    waiter = threading.Thread(target=second)
    waiter.start()
    assert second_console.waiting.wait(timeout=60)
    assert order == []
    first_may_end.set()
    holder.join(timeout=60)
    waiter.join(timeout=60)
    assert order == ["first ended", "second began"]
