"""Kyverno: policies against Kyverno's own CRD schemas, and the images they require signed.

The schemas come from the npm package @kubernetes-models/kyverno, which compiles Kyverno's CRDs
(openAPIV3Schema) into validators; they check types, enums and required fields. Like the CRDs
themselves (no `additionalProperties: false`), they accept unknown fields, so a misspelt optional
field passes here as it would pass the API server.
"""

from __future__ import annotations

import json
import re
from typing import Any

from floe_deploy.gitops.cluster import Cluster
from floe_deploy.gitops.manifests import Document
from floe_deploy.npm import installed, run_node

PACKAGE = "@kubernetes-models/kyverno@2.0.0"
GROUP = "kyverno.io"
VALIDATORS = {
    ("kyverno.io/v1", "ClusterPolicy"): "ComGithubKyvernoKyvernoApiKyvernoV1ClusterPolicy.js",
    ("kyverno.io/v1", "Policy"): "ComGithubKyvernoKyvernoApiKyvernoV1Policy.js",
}
RUNNER = """
const schemas = new URL("./node_modules/@kubernetes-models/kyverno/_schemas/", import.meta.url);
let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const [file, document] of JSON.parse(input)) {
  const { validate } = await import(new URL(file, schemas));
  validate(document);
  results.push((validate.errors || []).map((e) => `${e.instancePath || "(root)"}: ${e.keyword} ${JSON.stringify(e.params)}`));
}
process.stdout.write(JSON.stringify(results));
"""


def is_kyverno(document: Document) -> bool:
    return document.api_version.split("/")[0] == GROUP


def schema_errors(documents: list[Document]) -> dict[int, list[str]]:
    """Errors per document (by position in `documents`); an unknown kind is an error."""
    known = [
        (i, VALIDATORS[(d.api_version, d.kind)]) for i, d in enumerate(documents)
        if (d.api_version, d.kind) in VALIDATORS
    ]  # fmt: skip
    errors = {
        i: [f"no schema for {d.api_version} {d.kind} in {PACKAGE}"]
        for i, d in enumerate(documents) if (d.api_version, d.kind) not in VALIDATORS
    }  # fmt: skip
    if known:
        payload = json.dumps([[file, documents[i].body] for i, file in known])
        found = json.loads(run_node(RUNNER, installed(PACKAGE), payload))
        errors |= {i: messages for (i, _), messages in zip(known, found, strict=True)}
    return errors


def verified_repositories(document: Document) -> list[str]:
    """The image reference patterns a policy requires a signature for (with a key or signer)."""
    patterns = []
    for rule in (document.body.get("spec") or {}).get("rules") or []:
        for verify in rule.get("verifyImages") or []:
            if (
                verify.get("failureAction", "Enforce") != "Enforce"
                or verify.get("required") is False
            ):
                continue
            entries = [e for a in verify.get("attestors") or [] for e in a.get("entries") or []]
            if any(_has_key(entry) for entry in entries):
                patterns += [str(r) for r in verify.get("imageReferences") or []]
    return patterns


def _has_key(entry: dict[str, Any]) -> bool:
    keys = entry.get("keys") or {}
    keyless = entry.get("keyless") or {}
    return bool(
        keys.get("publicKeys") or keys.get("secret") or keys.get("kms")
        or (keyless.get("subject") or keyless.get("subjectRegExp"))
    )  # fmt: skip


def covers(patterns: list[str], image: str) -> bool:
    """Whether Kyverno's wildcard imageReferences match `image` (REPOSITORY:TAG)."""
    return any(
        re.fullmatch(re.escape(p).replace(r"\*", ".*").replace(r"\?", "."), image) for p in patterns
    )


def unsigned_image(reference: str, cluster: Cluster) -> list[str]:
    """An environment's image (REPOSITORY:TAG) needs a deployed policy requiring its signature."""
    admitted = [
        p for d in cluster.tree.of_kind("ClusterPolicy") if d.file in cluster.deployed
        for p in verified_repositories(d)
    ]  # fmt: skip
    if covers(admitted, reference):
        return []
    return [
        f"no deployed admission policy requires a signature for {reference} "
        "(gitops/policies: add its repository to imageReferences)"
    ]
