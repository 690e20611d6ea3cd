"""Parsed YAML, memoised by text: validation parses the same large values files and manifests
many times (every environment merges the chart's defaults), and the pure-Python parser is slow.

Callers get deep copies, so they may change what they get. Errors are not memoised."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML


@lru_cache(maxsize=256)
def _document(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


@lru_cache(maxsize=256)
def _documents(text: str) -> tuple[Any, ...]:
    return tuple(YAML(typ="safe", pure=True).load_all(text))


def load_document(text: str) -> Any:
    """The one document of `text` (ruamel's YAMLError when it is not valid YAML)."""
    return copy.deepcopy(_document(text))


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, in order."""
    return copy.deepcopy(list(_documents(text)))
