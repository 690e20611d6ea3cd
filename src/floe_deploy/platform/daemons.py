"""Background programs that platform.up starts, tracked by pid files in the state dir.

platform.down stops only what a pid file names and whose command line still matches, so a daemon
the user runs (or a reused pid) is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from floe_deploy.commands import tail
from floe_deploy.waiting import poll

COMM_LENGTH = 15
"""The kernel keeps this many characters of a program's name (`comm`)."""
KILL_WAIT_S = 10.0
"""How long a SIGKILLed process may take to disappear (an uninterruptible wait can delay it)."""


def _stat(pid: int) -> tuple[str, str] | None:
    """(program name, state) from /proc/<pid>/stat; None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    return name, text[text.rfind(")") + 1 :].split()[0]


def _is_alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] not in {"Z", "X"}


@dataclass(frozen=True)
class ManagedDaemon:
    """One daemon under `state_dir`: `<name>.pid` and `<name>.log`."""

    name: str
    executable: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def running_pid(self) -> int | None:
        """The pid of our running daemon, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        stat = _stat(pid)
        expected = Path(self.executable).name[:COMM_LENGTH]
        if stat is not None and stat[1] not in {"Z", "X"} and stat[0] == expected:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, argv: Sequence[str]) -> int:
        """Start detached (own session, output to the log file) and record the pid."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [self.executable, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; True when a running daemon was stopped."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        gone = lambda: True if not _is_alive(pid) else None  # noqa: E731
        if poll(gone, timeout=timeout, interval=0.1) is None:
            os.kill(pid, signal.SIGKILL)
            poll(gone, timeout=KILL_WAIT_S, interval=0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def exited(self, pid: int) -> bool:
        return not _is_alive(pid)

    def wait_until_serving(
        self, pid: int, serving: Callable[[], bool], timeout: float, interval: float
    ) -> bool:
        """True once `serving()` is; False when the daemon exits or `timeout` passes first."""

        def state() -> bool | None:
            if serving():
                return True
            return False if self.exited(pid) else None

        return bool(poll(state, timeout=timeout, interval=interval))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return tail(self.log_file.read_text(errors="replace"), lines)
        except OSError:
            return ""
