"""Glue between Invoke tasks and the toolkit: user errors become one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from floe_deploy.errors import FloeError

TaskBody = TypeVar("TaskBody", bound=Callable[..., Any])


def reports_errors(body: TaskBody) -> TaskBody:
    """Print a FloeError as `ERROR: … Remediation: …` (or JSON) and exit with its code.

    A task body may also return an int: a non-zero one becomes the process's exit code.
    """

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = body(*args, **kwargs)
        except FloeError as error:
            from floe_deploy.console import Console  # noqa: PLC0415 (keeps `invoke --list` fast)

            Console(json_mode=bool(kwargs.get("json"))).error(error)
            raise Exit(code=int(error.exit_code)) from None
        if isinstance(code, int) and code != 0:
            raise Exit(code=code)
        return None

    return wrapper  # type: ignore[return-value]
