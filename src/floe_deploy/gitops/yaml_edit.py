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
from ruamel.yaml.error import YAMLError

from floe_deploy.errors import FloeError

Path_ = tuple[str | int, ...]


def _load(text: str) -> Any:
    try:
        return YAML().load(io.StringIO(text))
    except YAMLError as error:
        raise FloeError(
            f"not a single valid YAML document: {' '.join(str(error).split())[:200]}",
            "a values file is one YAML mapping (no `---` between documents)",
        ) from None


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


def _position(node: Any, last: str | int, where: str, lines: list[str]) -> tuple[int, int]:
    """(line, column) where the scalar's text starts (after an anchor `&name`)."""
    try:
        line, column = node.lc.value(last) if isinstance(node, CommentedMap) else node.lc.item(last)
    except (KeyError, IndexError, TypeError):  # merged in with `<<:`, not written here
        raise FloeError(
            f"{where} comes from a YAML merge key (<<:), not from a line of its own",
            "write the value out under its key, then promote again",
        ) from None
    content = lines[line].rstrip("\n")
    if content[column : column + 1] == "*":
        raise FloeError(
            f"{where} is an alias ({content[column:].split()[0]}) of a value set elsewhere",
            "promote edits the anchored value: point the change at the anchor's key",
        )
    if content[column : column + 1] == "&":
        column += len(content[column:].split()[0]) + 1
    return int(line), int(column)


def _insertion(lines: list[str], node: CommentedMap, key: str, value: str) -> tuple[int, str]:
    """Where and what to add for a new last key of a block mapping whose keys are scalars."""
    if node.fa.flow_style():
        raise FloeError(
            f"cannot add {key} to a flow mapping ({{…}})", "write it out, then promote again"
        )
    last = list(node)[-1]
    if isinstance(node[last], (CommentedMap, CommentedSeq)):
        raise FloeError(
            f"cannot add {key} after the block {last}", "add it by hand, then promote again"
        )
    line, column = node.lc.key(last)
    return line + 1, f"{' ' * column}{key}: {_render_scalar(value, '')}\n"


def set_values(text: str, changes: dict[Path_, str], *, add: bool = False) -> str:
    """`text` with each path's scalar replaced; paths that are absent raise, unless `add` (then
    a missing last key of an existing block mapping is written after its last key)."""
    lines = text.splitlines(keepends=True)
    document = _load(text)
    edits: set[tuple[int, int, int, str]] = set()  # a set: aliases of one anchor edit it once
    insertions: list[tuple[int, str]] = []
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
        if add and isinstance(node, CommentedMap) and last not in node and len(node):
            insertions.append(_insertion(lines, node, str(last), value))
            continue
        if not isinstance(node, (CommentedMap, CommentedSeq)) or (
            isinstance(node, CommentedMap) and last not in node
        ):
            raise FloeError(
                f"{'.'.join(map(str, path))} is not in the file", "add it, then promote again"
            )
        line, column = _position(node, last, ".".join(map(str, path)), lines)
        content = lines[line].rstrip("\n")
        end = _scalar_end(content, column, bool(node.fa.flow_style()))
        original = content[column:end]
        edits.add((line, column, end, _render_scalar(value, original)))
    for line, column, end, replacement in sorted(edits, reverse=True):
        newline = lines[line][len(lines[line].rstrip("\n")) :]
        content = lines[line].rstrip("\n")
        lines[line] = content[:column] + replacement + content[end:] + newline
    for line, added in sorted(insertions, reverse=True):
        if line > 0 and not lines[line - 1].endswith("\n"):
            lines[line - 1] += "\n"
        lines.insert(line, added)
    result = "".join(lines)
    reloaded = _load(result)
    for path, value in changes.items():
        node = reloaded
        for key in path:
            node = node[key]
        if str(node) != value:
            raise FloeError(f"editing {'.'.join(map(str, path))} failed", "edit the file by hand")
    return result
