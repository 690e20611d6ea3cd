"""Reading YAML (values files, rendered manifests, GitOps trees, compose files) as Helm and
Kubernetes read it: libyaml through PyYAML's C loader, YAML 1.1 scalars as sigs.k8s.io/yaml
resolves them (`on`/`yes` are booleans, `0644` is octal), timestamps left as strings.

Validation parses the same large values files many times (every environment merges the chart's
defaults), so `load_document(s)` memoise by text and hand out deep copies that callers may
change; errors are not memoised. Edits that keep comments use ruamel.yaml (gitops/yaml_edit.py).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

YAMLError = yaml.YAMLError
TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _KubernetesLoader(yaml.CSafeLoader):
    """libyaml's safe loader without the timestamp resolver: Kubernetes keeps `2024-01-01` a string."""


_KubernetesLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def parse_document(text: str | bytes) -> Any:
    """The one document of `text` (YAMLError when it is not valid YAML)."""
    return yaml.load(text, Loader=_KubernetesLoader)  # noqa: S506 (a safe loader)


def parse_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, in order."""
    return list(yaml.load_all(text, Loader=_KubernetesLoader))


@lru_cache(maxsize=256)
def _document(text: str) -> Any:
    return parse_document(text)


@lru_cache(maxsize=256)
def _documents(text: str) -> tuple[Any, ...]:
    return tuple(parse_documents(text))


def load_document(text: str) -> Any:
    """`parse_document`, memoised."""
    return copy.deepcopy(_document(text))


def load_documents(text: str) -> list[Any]:
    """`parse_documents`, memoised."""
    return copy.deepcopy(list(_documents(text)))
