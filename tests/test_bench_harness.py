"""The benchmark runner: a missed floor fails the run, a missed goal only with --strict, a
missing input is an error; results go to JSON with both verdicts."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks import measure
from benchmarks.__main__ import main
from benchmarks.measure import Measurement

Fake = Callable[[list[Measurement] | Exception], None]

pytestmark = pytest.mark.requirement("007-FR-048", evidence="real")


@pytest.fixture
def fake_bench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Fake:
    """`benchmarks.bench_fake`, whose run() returns (or raises) what the test says."""
    monkeypatch.setattr(measure, "RESULTS_DIR", tmp_path)

    def install(result: list[Measurement] | Exception) -> None:
        module = types.ModuleType("benchmarks.bench_fake")

        def run() -> list[Measurement]:
            if isinstance(result, Exception):
                raise result
            return result

        module.run = run  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "benchmarks.bench_fake", module)

    return install


def seconds(value: float) -> Measurement:
    return Measurement(name="startup_seconds", value=value, unit="s", goal=1.0, floor=5.0)


def test_a_missed_floor_fails_the_run(
    fake_bench: Fake, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_bench([seconds(7.5)])
    assert main([], modules=["bench_fake"]) == 1
    out, err = capsys.readouterr()
    assert "startup_seconds: 7.5 s (goal ≤ 1.0, floor ≤ 5.0) BELOW FLOOR" in out
    assert "FLOORS MISSED: startup_seconds" in err
    (written,) = json.loads((tmp_path / "fake.json").read_text())
    assert (written["goal_met"], written["floor_met"]) == (False, False)


def test_a_missed_goal_is_reported_and_fails_only_when_strict(
    fake_bench: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_bench([seconds(2.0)])
    assert main([], modules=["bench_fake"]) == 0
    assert "(goal ≤ 1.0, floor ≤ 5.0) below goal" in capsys.readouterr().out
    assert main(["--strict"], modules=["bench_fake"]) == 1


def test_a_met_goal_is_ok_and_a_higher_is_better_goal_reads_the_other_way(
    fake_bench: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = Measurement(name="rows_per_second", value=900, unit="rows/s", goal=1000, floor=500,
                       goal_is_max=False)  # fmt: skip
    fake_bench([seconds(0.4), rate])
    assert main(["--strict"], modules=["bench_fake"]) == 1
    out = capsys.readouterr().out
    assert "startup_seconds: 0.4 s (goal ≤ 1.0, floor ≤ 5.0) ok" in out
    assert "rows_per_second: 900.0 rows/s (goal ≥ 1000.0, floor ≥ 500.0) below goal" in out


def test_a_missing_input_is_an_error_never_a_zero(
    fake_bench: Fake, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_bench(RuntimeError("no e2e report at build/reports/e2e-junit.xml"))
    assert main([], modules=["bench_fake"]) == 2
    assert "ERROR: bench_fake: no e2e report" in capsys.readouterr().err
    assert not (tmp_path / "fake.json").exists()
