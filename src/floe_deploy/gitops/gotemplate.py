"""The part of Go's text/template an ApplicationSet with `goTemplate` uses, evaluated as Argo CD
would for one generator's parameters (with `missingkey=error`).

Fields (`.path.basename`), string literals, `if`/`else`/`end`, and the functions `eq`, `ne`,
`not`, `and`, `or` and `trimPrefix`. Anything else is a TemplateError: a template this cannot
evaluate cannot be shown to keep prod's sync manual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
WORD = re.compile(r'"(?:[^"\\]|\\.)*"|[()]|[^\s()]+')


class TemplateError(ValueError):
    """A template Argo CD would refuse, or one this evaluator does not know."""


def _field(path: str, parameters: dict[str, Any]) -> Any:
    node: Any = parameters
    for key in path.strip(".").split("."):
        if not isinstance(node, dict) or key not in node:
            raise TemplateError(f"{path} is no parameter of the generator (missingkey=error)")
        node = node[key]
    return node


def _call(name: str, arguments: list[Any]) -> Any:
    functions: dict[str, Callable[..., Any]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "not": lambda a: not a,
        "and": lambda *a: all(a),
        "or": lambda *a: any(a),
        "trimPrefix": lambda prefix, text: str(text).removeprefix(str(prefix)),
    }
    if name not in functions:
        raise TemplateError(f"function {name!r} is not evaluated here")
    try:
        return functions[name](*arguments)
    except TypeError:
        raise TemplateError(f"{name} takes other arguments than {arguments!r}") from None


def _evaluate(words: list[str], parameters: dict[str, Any]) -> Any:
    """A pipeline without `|`: a value, or a function applied to values (parentheses nest)."""

    def value(position: int) -> tuple[Any, int]:
        word = words[position]
        if word == "(":
            depth, end = 1, position + 1
            while depth:
                if end >= len(words):
                    raise TemplateError("unbalanced parentheses")
                depth += {"(": 1, ")": -1}.get(words[end], 0)
                end += 1
            return _evaluate(words[position + 1 : end - 1], parameters), end
        if word.startswith('"'):
            return word[1:-1], position + 1
        if word.startswith("."):
            return _field(word, parameters), position + 1
        if word in {"true", "false"}:
            return word == "true", position + 1
        raise TemplateError(f"{word!r} is not evaluated here")

    if not words:
        raise TemplateError("empty action")
    if words[0] not in {"(", "true", "false"} and not words[0].startswith(('"', ".")):
        arguments, position = [], 1
        while position < len(words):
            argument, position = value(position)
            arguments.append(argument)
        return _call(words[0], arguments)
    result, position = value(0)
    if position != len(words):
        raise TemplateError(f"{' '.join(words)} is not one value")
    return result


def render(text: str, parameters: dict[str, Any]) -> str:
    """The text the template makes for these parameters."""
    out: list[str] = []
    shown: list[bool] = []  # per open `if`: whether its current branch is taken
    taken: list[bool] = []
    trim_next = False
    position = 0
    for match in ACTION.finditer(text):
        chunk = text[position : match.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if match.group(1):
            chunk = chunk.rstrip()
        if all(shown):
            out.append(chunk)
        trim_next, position = bool(match.group(3)), match.end()
        words = WORD.findall(match.group(2))
        keyword = words[0] if words else ""
        if keyword == "if":
            condition = all(shown) and bool(_evaluate(words[1:], parameters))
            shown.append(condition)
            taken.append(condition)
        elif keyword == "else":
            if not shown:
                raise TemplateError("else without if")
            shown[-1] = not taken[-1]
        elif keyword == "end":
            if not shown:
                raise TemplateError("end without if")
            shown.pop()
            taken.pop()
        elif all(shown):
            out.append(str(_evaluate(words, parameters)))
    if shown:
        raise TemplateError("if without end")
    tail = text[position:]
    out.append(tail.lstrip() if trim_next else tail)
    return "".join(out)
