"""Run every benchmark module (or those named) and write JSON. A missed floor (what an issue
promised) fails the run (exit 1); a missed goal is reported, and fails only with `--strict`; a
benchmark whose input is missing is an error (exit 2)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import benchmarks
from benchmarks.measure import write


def bench_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )


def main(argv: Sequence[str] | None = None, modules: Sequence[str] | None = None) -> int:
    modules = list(modules if modules is not None else bench_modules())
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__)
    parser.add_argument("only", nargs="*", metavar="MODULE", help=f"any of {', '.join(modules)}")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed too")
    options = parser.parse_args(argv)
    selected = options.only or modules
    unknown = sorted(set(selected) - set(modules))
    if unknown:
        parser.error(f"unknown benchmark module {unknown[0]}; choose from {', '.join(modules)}")
    below_goal, below_floor, failed = [], [], []
    for name in selected:
        try:
            measurements = importlib.import_module(f"benchmarks.{name}").run()
        except RuntimeError as error:  # an input it needs is missing: an error, never a 0
            print(f"ERROR: {name}: {error}", file=sys.stderr)
            failed.append(name)
            continue
        path = write(name.removeprefix("bench_"), measurements)
        for m in measurements:
            print(m.verdict())
            below_goal += [m.name] if not m.goal_met else []
            below_floor += [m.name] if not m.floor_met else []
        print(f"wrote {path}")
    if below_goal:
        print(f"goals missed: {', '.join(below_goal)}", file=sys.stderr)
    if below_floor:
        print(f"FLOORS MISSED: {', '.join(below_floor)}", file=sys.stderr)
    if failed:
        return 2
    return 1 if below_floor or (below_goal and options.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
