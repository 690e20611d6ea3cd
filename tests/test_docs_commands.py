"""The docs name only what exists: every `invoke TASK --option` and `floe-preflight --option` shown in
README.md and docs/ is a task or command with that option, and every FLOE_* variable they name is
one that a settings model (the toolkit's, preflight's), the demo workload or an image reads."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from invoke.collection import Collection
from invoke.tasks import Task
from pydantic import BaseModel
from pydantic_settings import BaseSettings
from tasks import namespace

from floe_demo import config as demo_config
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.settings import Settings
from floe_preflight.cli import command as preflight_command
from floe_preflight.config import PreflightSettings

pytestmark = pytest.mark.requirement("007-FR-006", evidence="real")

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
INVOKE = re.compile(
    r"invoke ([a-z][a-z_]*(?:\.[a-z_*]+)?)((?:[ \t]+(?:--?[a-z][\w-]*(?:[= ][^\s`|;&)]+)?|[^\s`|;&)-][^\s`|;&)]*))*)"
)
PREFLIGHT = re.compile(r"floe-preflight((?:[ \t]+[^\s`|;&)]+)*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")
VARIABLE = re.compile(r"\bFLOE_[A-Z0-9_]+(?:<[A-Z]+>)?")
DOCUMENTED_MISTAKES = {"FLOE_POSTGRES__HOTS", "FLOE_POSTGRES_HOST"}
"""Misspellings the preflight docs show to explain its errors and notices."""


def tasks_by_name(collection: Collection = namespace, prefix: str = "") -> dict[str, Task[Any]]:
    found = {prefix + name: task for name, task in collection.tasks.items()}
    for name, sub in collection.collections.items():
        found |= tasks_by_name(sub, f"{prefix}{name}.")
    return found


TASKS = tasks_by_name()


def task_options(task: Task[Any]) -> set[str]:
    parameters = list(inspect.signature(task.body).parameters)[1:]
    return {"--help", *(f"--{p.rstrip('_').replace('_', '-')}" for p in parameters)}


def shown(pattern: re.Pattern[str]) -> list[tuple[str, re.Match[str]]]:
    return [
        (f"{path.relative_to(PROJECT_ROOT)}:{number}", match)
        for path in DOCS
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in pattern.finditer(line)
    ]


def test_every_invoke_command_in_the_docs_names_a_task_and_its_options() -> None:
    problems = []
    for where, match in shown(INVOKE):
        name = match[1]
        if name.endswith(".*"):
            if not any(task.startswith(name[:-1]) for task in TASKS):
                problems.append(f"{where}: no namespace {name[:-2]}")
            continue
        if name == "task":  # the architecture diagram's placeholder
            continue
        if name not in TASKS:
            problems.append(f"{where}: no task {name}")
            continue
        unknown = set(OPTION.findall(match[2])) - task_options(TASKS[name])
        problems += [f"{where}: {name} has no {option}" for option in sorted(unknown)]
    assert problems == []
    assert len(shown(INVOKE)) > 50


def test_every_floe_preflight_command_in_the_docs_uses_its_options() -> None:
    options = {"--help", "-h"} | {
        flag for parameter in preflight_command.params for flag in parameter.opts
    }
    problems = [
        f"{where}: floe-preflight has no {option}"
        for where, match in shown(PREFLIGHT)
        for option in OPTION.findall(match[1])
        if option not in options
    ]
    assert problems == []


def _variables(model: type[BaseModel], prefix: str) -> set[str]:
    """FLOE_* names a settings model reads: FIELD, SECTION__FIELD; a mapping field takes any key."""
    names = set()
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        names.add(variable)
        annotation = field.annotation
        nested = [a for a in (annotation, *get_args(annotation)) if isinstance(a, type)]
        if any(issubclass(a, BaseModel) and not issubclass(a, BaseSettings) for a in nested):
            model_type = next(a for a in nested if issubclass(a, BaseModel))
            names |= _variables(model_type, f"{variable}__")
        if get_origin(annotation) is dict:
            names.add(f"{variable}__*")
    return names


def known_variables() -> set[str]:
    images = {
        name for path in (PROJECT_ROOT / "images").rglob("*") if path.is_file()
        for name in VARIABLE.findall(path.read_text(errors="ignore"))
    }  # fmt: skip
    demo = {
        value
        for value in vars(demo_config).values()
        if isinstance(value, str) and value.startswith("FLOE_")
    }
    read_from_environment = {
        name for path in (PROJECT_ROOT / "src").rglob("*.py")
        for name in re.findall(r'environ\.get\("(FLOE_\w+)"', path.read_text())
    }  # fmt: skip
    workflow_variables = {
        name for path in (PROJECT_ROOT / ".github" / "workflows").glob("*.yml")
        for name in re.findall(r"vars\.(FLOE_\w+)", path.read_text())
    }  # fmt: skip
    return (
        _variables(Settings, "FLOE_") | _variables(PreflightSettings, "FLOE_") | images | demo
        | read_from_environment | workflow_variables
    )  # fmt: skip


def _known(name: str, known: set[str]) -> bool:
    if name in known or name in DOCUMENTED_MISTAKES:
        return True
    stem = name.split("<", maxsplit=1)[0]
    if stem.endswith("__"):  # FLOE_SECTION__<KEY> or a prefix such as FLOE_TIMEOUTS__
        return any(k.startswith(stem) for k in known)
    return any(k.endswith("__*") and name.startswith(k[:-1]) for k in known)


def test_every_floe_variable_in_the_docs_is_read_by_something() -> None:
    known = known_variables()
    unknown = sorted({
        f"{where}: {match[0]}" for where, match in shown(VARIABLE)
        if match[0] != "FLOE_" and not _known(match[0], known)
    })  # fmt: skip
    assert unknown == []


def test_the_checks_catch_a_made_up_task_option_and_variable(tmp_path: Path) -> None:
    """The three checks above can fail: each finds its planted mistake."""
    line = "run `invoke demo.up --turbo` then `invoke demo.nope` with FLOE_DEMO__PORTS__NOPE=1"
    (name, options), unknown_task = INVOKE.findall(line)[0], INVOKE.findall(line)[1][0]
    assert name in TASKS
    assert set(OPTION.findall(options)) - task_options(TASKS[name]) == {"--turbo"}
    assert unknown_task not in TASKS
    assert not _known(VARIABLE.findall(line)[0], known_variables())
    assert _known("FLOE_DEMO__PORTS__CUBE", known_variables())


def test_every_task_takes_json_but_the_three_the_readme_names() -> None:
    """The README's claim: every task that reports a result takes --json, except the three it names."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    without = sorted(name for name, task in TASKS.items() if "--json" not in task_options(task))
    assert without == ["demo.logs", "helm.schema", "helm.template"]
    assert all(f"`{name}`" in readme.split("take no `--json`")[1][:200] for name in without)
