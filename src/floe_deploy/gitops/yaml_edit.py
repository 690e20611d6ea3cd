"""Change scalar values in a YAML file and leave every other byte as it was.

ruamel.yaml's round-trip loader finds where each value sits (line and column); the new value is
spliced into the original text there, so comments, quoting, flow maps and blank lines survive
byte for byte outside the changed values.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from floe_deploy.errors import FloeError

Path_ = tuple[str | int, ...]


def _load(text: str) -> Any:
    return YAML().load(io.StringIO(text))


def _render_scalar(value: str, original: str) -> str:
    """The new value written the way the old one was: same quotes, or plain when it stays a string."""
    if original[:1] in {"'", '"'}:
        return f"{original[0]}{value}{original[0]}"
    loaded = YAML(typ="safe", pure=True).load(io.StringIO(f"v: {value}\n"))
    return value if isinstance(loaded["v"], str) else f'"{value}"'


def _scalar_end(line: str, start: int, flow: bool) -> int:
    if line[start] in {"'", '"'}:
        quote = line[start]
        end = line.index(quote, start + 1)
        return end + 1
    end = start
    stops = {",", "}", "]"} if flow else set()
    while end < len(line) and line[end] not in stops and not line.startswith(" #", end):
        end += 1
    return len(line[:end].rstrip()) if end <= len(line) else end


def set_values(text: str, changes: dict[Path_, str]) -> str:
    """`text` with each path's scalar replaced; paths that are absent raise."""
    lines = text.splitlines(keepends=True)
    document = _load(text)
    edits: set[tuple[int, int, int, str]] = set()  # a set: aliases of one anchor edit it once
    for path, value in changes.items():
        node: Any = document
        for key in path[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                raise FloeError(
                    f"{'.'.join(map(str, path))} is not in the file", "add it, then promote again"
                ) from None
        last = path[-1]
        if not isinstance(node, (CommentedMap, CommentedSeq)) or (
            isinstance(node, CommentedMap) and last not in node
        ):
            raise FloeError(
                f"{'.'.join(map(str, path))} is not in the file", "add it, then promote again"
            )
        line, column = node.lc.value(last) if isinstance(node, CommentedMap) else node.lc.item(last)
        content = lines[line].rstrip("\n")
        end = _scalar_end(content, column, bool(node.fa.flow_style()))
        original = content[column:end]
        edits.add((line, column, end, _render_scalar(value, original)))
    for line, column, end, replacement in sorted(edits, reverse=True):
        newline = lines[line][len(lines[line].rstrip("\n")) :]
        content = lines[line].rstrip("\n")
        lines[line] = content[:column] + replacement + content[end:] + newline
    result = "".join(lines)
    reloaded = _load(result)
    for path, value in changes.items():
        node = reloaded
        for key in path:
            node = node[key]
        if str(node) != value:
            raise FloeError(f"editing {'.'.join(map(str, path))} failed", "edit the file by hand")
    return result
