"""Smokes share one podman network (floe-smoke): a second smoke on the machine waits for the
first to end instead of removing its pods (the e2e modules that smoke run in two workers)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from floe_deploy.console import Console
from floe_deploy.helm.smoke import one_smoke_at_a_time
from floe_deploy.settings import load_settings

pytestmark = pytest.mark.requirement("007-FR-043", evidence="real")


def test_a_second_smoke_waits_until_the_first_has_ended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(state_dir=str(tmp_path))
    first_inside, first_may_end, order = threading.Event(), threading.Event(), []

    def first() -> None:
        with one_smoke_at_a_time(settings, Console()):
            first_inside.set()
            first_may_end.wait(timeout=30)
            order.append("first ended")

    def second() -> None:
        with one_smoke_at_a_time(settings, Console()):
            order.append("second began")

    holder = threading.Thread(target=first)
    holder.start()
    assert first_inside.wait(timeout=30)
    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(timeout=1)
    assert waiter.is_alive()
    assert order == []
    first_may_end.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert order == ["first ended", "second began"]
    assert "waiting for the other helm.smoke on this machine to end" in capsys.readouterr().out
