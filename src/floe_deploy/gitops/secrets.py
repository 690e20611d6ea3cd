"""Plaintext secrets in gitops/: a Secret whose data is not SOPS-encrypted, a secret-looking
key with a literal value, or a value that looks like a key or token anywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from floe_deploy.images.layers import SECRET_PATTERNS

SOPS_VALUE = re.compile(r"^ENC\[[A-Z0-9_]+,data:.*\]$", re.DOTALL)
SECRET_KEY_NAME = re.compile(
    r"(password|passwd|passphrase|token|secret|api[-_]?key|private[-_]?key|secret[-_]?access[-_]?key)$",
    re.IGNORECASE,
)
"""A key whose value would be a secret (its last segment); `secretName`, `secretKey` are names."""
EXTRA_PATTERNS = {
    "age secret key": re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{50,}"),
    "URL with credentials (user:password@)": re.compile(
        rb"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"
    ),
}
REFERENCE_KEYS = {"key", "property", "name", "secretKey", "valuesKey"}


def is_sops_encrypted(body: dict[str, Any]) -> bool:
    """Every data/stringData value is `ENC[…]` and the document carries SOPS metadata."""
    if not isinstance(body.get("sops"), dict):
        return False
    values = [*(body.get("data") or {}).values(), *(body.get("stringData") or {}).values()]
    return all(isinstance(v, str) and SOPS_VALUE.match(v) for v in values)


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))
    else:
        yield path, node


def pattern_findings(body: Any) -> list[str]:
    found = []
    for path, value in _walk(body):
        if isinstance(value, str):
            for kind, pattern in (SECRET_PATTERNS | EXTRA_PATTERNS).items():
                if pattern.search(value.encode()):
                    found.append(f"{'.'.join(path)} holds what looks like a {kind}")
    return found


def plaintext_secrets(kind: str, body: Any, *, values_file: bool = False) -> list[str]:
    """What in one document is a secret in plain text."""
    if not isinstance(body, dict):
        return []
    problems = pattern_findings(body)
    if (
        kind == "Secret"
        and (body.get("data") or body.get("stringData"))
        and not is_sops_encrypted(body)
    ):
        problems.append(
            "a Secret with data in plain text: encrypt it with SOPS, or use an ExternalSecret or SealedSecret"
        )
    if values_file or kind not in {"SealedSecret", "ExternalSecret", "Secret"}:
        for path, value in _walk(body):
            key = path[-1] if path else ""
            if (
                key not in REFERENCE_KEYS
                and SECRET_KEY_NAME.search(key)
                and isinstance(value, str)
                and value.strip()
            ):
                problems.append(
                    f"{'.'.join(path)} is a secret in plain text: reference a Secret instead"
                )
    return problems
