"""The runtime image's wheel cache, shared by every checkout that builds with one state directory
(a release workflow's fresh workspace, a second clone): filled once, never seen half-filled."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from floe_deploy.images.wheels import _filled_once, _linked_into

pytestmark = pytest.mark.requirement("007-FR-009", evidence="real")


def test_two_processes_filling_one_entry_leave_one_whole_copy(tmp_path: Path) -> None:
    """Both fills run at once (each waits for the other inside its fill); whichever renames
    first is kept and both callers get it whole."""
    inside = threading.Barrier(2, timeout=30)
    results: list[Path] = []

    def fill(into: Path) -> None:
        (into / "a.whl").write_text(threading.current_thread().name)
        inside.wait()
        (into / "b.whl").write_text("b")

    threads = [
        threading.Thread(target=lambda: results.append(_filled_once(tmp_path / "amd64", fill)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [tmp_path / "amd64"] * 2
    assert sorted(p.name for p in (tmp_path / "amd64").iterdir()) == ["a.whl", "b.whl"]
    assert [p.name for p in tmp_path.iterdir()] == ["amd64"]


def test_a_fill_cut_short_leaves_nothing_and_the_next_one_fills(tmp_path: Path) -> None:
    def broken(into: Path) -> None:
        (into / "a.whl").write_text("a")
        raise OSError("the index went away")

    with pytest.raises(OSError, match="went away"):
        _filled_once(tmp_path / "arm64", broken)
    assert list(tmp_path.iterdir()) == []
    calls = []
    _filled_once(tmp_path / "arm64", lambda into: calls.append((into / "a.whl").write_text("a")))
    _filled_once(tmp_path / "arm64", lambda into: calls.append(1))
    assert len(calls) == 1
    assert (tmp_path / "arm64" / "a.whl").read_text() == "a"


def test_the_build_context_links_the_cached_files(tmp_path: Path) -> None:
    cached = tmp_path / "cache"
    cached.mkdir()
    (cached / "a.whl").write_text("a")
    context = tmp_path / "context" / "wheels"
    context.mkdir(parents=True)
    (context / "stale.whl").write_text("old lock")
    _linked_into(cached, context)
    assert [p.name for p in context.iterdir()] == ["a.whl"]
    assert (context / "a.whl").stat().st_ino == (cached / "a.whl").stat().st_ino


def test_a_context_that_holds_the_cached_files_is_not_rewritten(tmp_path: Path) -> None:
    """A build beside this one may be reading the context: the same files are left in place,
    a context from an interrupted or older fill is replaced."""
    cached = tmp_path / "cache"
    cached.mkdir()
    (cached / "a.whl").write_text("a")
    context = tmp_path / "context"
    _linked_into(cached, context)
    before = (context / "a.whl").stat().st_ino
    _linked_into(cached, context)
    assert (context / "a.whl").stat().st_ino == before
    (context / "a.whl").unlink()
    (context / ".complete").write_text("ok\n")
    _linked_into(cached, context)
    assert [p.name for p in context.iterdir()] == ["a.whl"]
