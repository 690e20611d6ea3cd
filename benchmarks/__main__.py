"""Run every benchmark module (or those named) and write JSON; `--strict` fails on a missed goal."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import benchmarks
from benchmarks.measure import write


def main() -> int:
    modules = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__)
    parser.add_argument("only", nargs="*", metavar="MODULE", help=f"any of {', '.join(modules)}")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    options = parser.parse_args()
    selected = options.only or modules
    unknown = sorted(set(selected) - set(modules))
    if unknown:
        parser.error(f"unknown benchmark module {unknown[0]}; choose from {', '.join(modules)}")
    missed, failed = [], []
    for name in selected:
        try:
            measurements = importlib.import_module(f"benchmarks.{name}").run()
        except RuntimeError as error:  # an input it needs is missing: an error, never a 0
            print(f"ERROR: {name}: {error}", file=sys.stderr)
            failed.append(name)
            continue
        path = write(name.removeprefix("bench_"), measurements)
        for m in measurements:
            goal = "" if m.goal is None else f" (goal {'≤' if m.goal_is_max else '≥'} {m.goal})"
            verdict = "ok" if m.goal_met else "MISSED"
            print(f"{m.name}: {m.value} {m.unit}{goal} {verdict}")
            if not m.goal_met:
                missed.append(m.name)
        print(f"wrote {path}")
    if missed:
        print(f"goals missed: {', '.join(missed)}", file=sys.stderr)
    if failed:
        return 2
    return 1 if missed and options.strict else 0


if __name__ == "__main__":
    sys.exit(main())
