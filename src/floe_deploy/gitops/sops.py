"""SOPS: the rules for .sops.yaml and the files sops encrypted.

Every creation rule in .sops.yaml names a key; an encrypted file carries a MAC (sops wrote it) and
is encrypted for exactly the age recipients its path's rule names. Whether a Secret's values are
encrypted at all is a plaintext check (gitops.secrets).
"""

from __future__ import annotations

import re
from pathlib import Path

from floe_deploy.gitops.cluster import Cluster
from floe_deploy.gitops.manifests import SOPS_CONFIG, Document
from floe_deploy.helm.chart import load_values

KEYS = ("age", "pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri")


def config_problems(document: Document) -> list[str] | None:
    """.sops.yaml by its own rules (None: another file)."""
    if not document.file.endswith(SOPS_CONFIG):
        return None
    body = document.body if isinstance(document.body, dict) else {}
    rules = body.get("creation_rules")
    ok = rules and all(any(k in rule for k in KEYS) for rule in rules)
    return [] if ok else ["creation_rules must name a key (age, pgp, kms, …) for every rule"]


def recipients(document: Document, cluster: Cluster) -> list[str]:
    """A SOPS file must carry a MAC and be encrypted for the recipients its .sops.yaml rule names."""
    metadata = document.body.get("sops") if isinstance(document.body, dict) else None
    if not isinstance(metadata, dict):
        return []
    errors = [] if metadata.get("mac") else ["SOPS metadata without a MAC: not a file sops wrote"]
    tree = cluster.tree
    rules_file = tree.root / SOPS_CONFIG
    if not rules_file.is_file():
        return errors
    relative = (
        str(Path(document.file).relative_to(tree.root.name))
        if document.file.startswith(tree.root.name + "/")
        else document.file
    )
    for rule in load_values(rules_file).get("creation_rules") or []:
        if re.search(str(rule.get("path_regex", "")), relative):
            wanted = {r.strip() for r in str(rule.get("age", "")).split(",") if r.strip()}
            found = {str(r.get("recipient")) for r in metadata.get("age") or []}
            if wanted and found != wanted:
                errors.append(
                    f"encrypted for {', '.join(sorted(found))}, but .sops.yaml names {', '.join(sorted(wanted))} for this path"
                )
            break
    return errors
