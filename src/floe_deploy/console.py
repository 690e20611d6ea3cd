"""Everything a task prints: rich tables and step timings for people, JSON for machines.

Colour follows rich's rules (NO_COLOR respected, none when not a TTY); step lines are plain text,
so logs of CI runs stay readable.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console as RichConsole
from rich.table import Table

from floe_deploy.errors import FloeError

LOG_WIDTH = 140
"""Table width when output goes to a file or CI log, where rich would otherwise wrap at 80."""


@dataclass
class StepTimer:
    """The seconds one `Console.step` took (rounded to 10 ms), set when the step ends."""

    title: str
    seconds: float = 0.0


class Console:
    """One output channel per task run: human (default) or JSON (`--json`)."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self._out = RichConsole(highlight=False, soft_wrap=True)
        self._err = RichConsole(stderr=True, highlight=False, soft_wrap=True)
        for console in (self._out, self._err):
            if not console.is_terminal and "COLUMNS" not in os.environ:
                console.width = LOG_WIDTH

    def line(self, text: str) -> None:
        """A progress or info line; on stderr in JSON mode so stdout stays one document."""
        (self._err if self.json_mode else self._out).print(text, markup=False)

    @contextmanager
    def step(self, title: str) -> Iterator[StepTimer]:
        """Time one step and print its outcome with the elapsed seconds; the timer it yields
        holds them once the step ends (also when it fails), for a task's report."""
        timer = StepTimer(title)
        started = time.monotonic()
        console = self._err if self.json_mode else self._out
        with console.status(title, spinner="dots"):
            try:
                yield timer
            except BaseException:
                timer.seconds = round(time.monotonic() - started, 2)
                console.print(f"✗ {title} ({timer.seconds:.1f} s)", markup=False)
                raise
        timer.seconds = round(time.monotonic() - started, 2)
        console.print(f"✓ {title} ({timer.seconds:.1f} s)", markup=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self._out.print(table)

    def show(
        self,
        payload: BaseModel | dict[str, Any],
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """A task's result: the payload as JSON under --json, else the table."""
        if self.json_mode:
            self.json(payload)
        else:
            self.table(title, columns, rows)

    def json(self, payload: BaseModel | dict[str, Any]) -> None:
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()

    def error(self, error: FloeError) -> None:
        if self.json_mode:
            self.json(
                {
                    "error": {
                        "message": error.message,
                        "remediation": error.remediation,
                        "exit_code": int(error.exit_code),
                        "details": error.details,
                    }
                }
            )
            return
        self._err.print(f"ERROR: {error.message}. Remediation: {error.remediation}", markup=False)
        if error.details:
            self._err.print(error.details, markup=False)


Result = TypeVar("Result", bound=BaseModel)


def json_or_human(
    render: Callable[[Console, Result], None],
) -> Callable[[Console, Result], None]:
    """A task's result as `render` shows it to people; under `--json`, the result model itself
    (what the JSON must carry beyond the fields, such as `ok`, is a computed field of the model)."""

    @functools.wraps(render)
    def show(console: Console, result: Result) -> None:
        if console.json_mode:
            console.json(result)
        else:
            render(console, result)

    return show
