"""Pid-file bookkeeping of the daemons platform.up starts, with a real process."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from floe_deploy.platform.daemons import ManagedDaemon

pytestmark = pytest.mark.requirement("007-FR-005", evidence="real")

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
)


def test_start_track_and_stop_a_real_process(tmp_path: Path) -> None:
    daemon = ManagedDaemon("sleeper", "sleep", tmp_path)
    pid = daemon.start(["300"])
    assert daemon.running_pid() == pid
    assert daemon.pid_file.read_text().strip() == str(pid)
    assert daemon.stop(timeout=5)
    assert daemon.running_pid() is None
    assert not daemon.pid_file.exists()
    assert daemon.stop() is False


def test_a_pid_that_runs_another_program_is_never_ours(tmp_path: Path) -> None:
    daemon = ManagedDaemon("sleeper", "sleep", tmp_path)
    daemon.pid_file.write_text(f"{os.getpid()}\n")
    assert daemon.running_pid() is None
    assert not daemon.pid_file.exists(), "a stale pid file is removed"
    assert daemon.stop() is False


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    daemon = ManagedDaemon("stubborn", sys.executable, tmp_path)
    pid = daemon.start(["-c", IGNORES_SIGTERM])
    time.sleep(0.5)
    assert daemon.running_pid() == pid
    assert daemon.stop(timeout=0.5)
    assert daemon.running_pid() is None
