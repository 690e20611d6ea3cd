"""Glue between Invoke tasks and the toolkit: user errors become one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from floe_deploy.errors import FloeError

TaskBody = TypeVar("TaskBody", bound=Callable[..., Any])
HELP_FLAGS = {"--help", "-h"}
TOP_LEVEL_MODULES = {"tasks.preflight", "tasks.release"}
"""Task modules whose tasks sit at the top of the collection (tasks/__init__.py)."""
NAMESPACE_OF_MODULE = {"tasks.local_platform": "platform"}
"""Modules whose namespace differs from their name (tasks/__init__.py says why)."""


def task_name(body: Callable[..., Any]) -> str:
    """The name `invoke` knows a task body by, e.g. images.inspect (a body named for a Python
    keyword, `import_`, is the task `import`)."""
    module, name = body.__module__, body.__name__.removesuffix("_")
    if module in TOP_LEVEL_MODULES:
        return name
    namespace = NAMESPACE_OF_MODULE.get(module, module.rpartition(".")[2])
    return f"{namespace}.{name}"


def asked_for_help(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """`invoke TASK --help` on a task with a positional: Invoke reads --help as its value."""
    return any(
        isinstance(value, str) and value in HELP_FLAGS for value in (*args[1:], *kwargs.values())
    )


def reports_errors(body: TaskBody) -> TaskBody:
    """Print a FloeError as `ERROR: … Remediation: …` (or JSON) and exit with its code.

    A task body may also return an int: a non-zero one becomes the process's exit code.
    """

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if asked_for_help(args, kwargs):
            from invoke.program import Program  # noqa: PLC0415

            Program().run(["invoke", "--help", task_name(body)], exit=False)
            return None
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
