"""Build provenance: an in-toto statement with a SLSA v1 provenance predicate, signed as a cosign
attestation on every published manifest (the multi-platform index and each platform's image).

It records what SLSA v1 asks for and a reviewer needs to audit an image: the source as its
repository URL, ref and commit; the base images per platform (by registry digest where they came
from a registry, by image id where they were built here, as on the air-gapped path); the lockfile
the wheels were resolved from; the builder (in a GitHub workflow: the workflow's identity, the
same string Sigstore certifies for keyless signing) and the run as the invocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.images.build import BuiltImage
from floe_deploy.images.signing import Signer, Verifier, attest, verified_statements
from floe_deploy.images.versioning import ReleaseVersion, git_output
from floe_deploy.oci import OciClient
from floe_deploy.paths import PROJECT_ROOT

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:floe-deploy:image-build:v1"
COSIGN_TYPE = "slsaprovenance1"
LOCAL_BUILDER = "urn:floe-deploy:invoke-publish"


class BuildContext(BaseModel):
    """Who built, from what source, in which run: from a GitHub workflow's environment, else the
    checkout's `origin` remote and this host."""

    builder: str
    source: str
    ref: str
    invocation: str | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, repo: Path = PROJECT_ROOT
    ) -> BuildContext:
        env = os.environ if environ is None else environ
        server, repository = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
        workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
        if env.get("GITHUB_ACTIONS") == "true" and server and repository and workflow_ref:
            run = f"{server}/{repository}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
            return cls(
                builder=f"{server}/{workflow_ref}",
                source=f"{server}/{repository}",
                ref=env.get("GITHUB_REF", ""),
                invocation=f"{run}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}",
            )
        return cls(builder=LOCAL_BUILDER, source=_origin(repo), ref=_head_ref(repo))


def _origin(repo: Path) -> str:
    return git_output("remote", "get-url", "origin", cwd=repo) or f"file://{repo}"


def _head_ref(repo: Path) -> str:
    return git_output("symbolic-ref", "-q", "HEAD", cwd=repo) or "HEAD"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _base_dependency(platform_name: str, reference: str, identity: str) -> dict[str, Any]:
    """A base image by registry digest (`name@sha256:…`) or, built here, by its image id."""
    name, at, digest = identity.partition("@")
    if at:
        return {"uri": f"docker-image://{name}@{digest}",
                "digest": {"sha256": digest.removeprefix("sha256:")},
                "annotations": {"platform": platform_name, "reference": reference}}  # fmt: skip
    return {"uri": f"docker-image://{reference}",
            "digest": {"sha256": identity.removeprefix("sha256:")},
            "annotations": {"platform": platform_name, "origin": "built here (image id)"}}  # fmt: skip


def provenance_predicate(
    image: str,
    builds: list[BuiltImage],
    version: ReleaseVersion,
    started: datetime,
    context: BuildContext,
) -> dict[str, Any]:
    """The SLSA v1 predicate for one multi-platform image."""
    dependencies: list[dict[str, Any]] = [
        {"uri": f"git+{context.source}@{context.ref}", "digest": {"gitCommit": version.revision}},
        {"name": "uv.lock", "digest": {"sha256": _sha256(PROJECT_ROOT / "uv.lock")}},
    ]
    dependencies += [
        _base_dependency(built.platform, reference, identity)
        for built in sorted(builds, key=lambda b: b.platform)
        for reference, identity in sorted(built.base_images.items())
    ]
    metadata: dict[str, Any] = {
        "startedOn": started.isoformat(),
        "finishedOn": datetime.now(UTC).isoformat(),
    }
    if context.invocation:
        metadata["invocationId"] = context.invocation
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "image": image,
                "version": version.version,
                "platforms": sorted(built.platform for built in builds),
                "source": {"repository": context.source, "ref": context.ref},
            },
            "internalParameters": {
                "images": {built.platform: built.image_id for built in builds},
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": context.builder, "version": {"host": platform.platform()}},
            "metadata": metadata,
        },
    }


def attest_provenance(
    oci: OciClient,
    subjects: list[str],
    predicate: dict[str, Any],
    signer: Signer,
    path: Path,
) -> Path:
    """Sign the predicate onto every subject (`repo@sha256:…`); returns the predicate file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(predicate, indent=2))
    for subject in subjects:
        attest(oci, subject, path, COSIGN_TYPE, signer)
    return path


def verify_provenance(
    oci: OciClient, digest_reference: str, verifier: Verifier
) -> tuple[bool, str]:
    """A signed SLSA provenance for exactly this digest, naming the expected builder."""
    statements, reason = verified_statements(oci, digest_reference, COSIGN_TYPE, verifier)
    slsa = [s for s in statements if s.get("predicateType") == PREDICATE_TYPE]
    if not slsa:
        return False, reason or "no SLSA provenance statement for this digest"
    for statement in slsa:
        run = statement["predicate"]["runDetails"]
        builder = run["builder"]["id"]
        if verifier.accepts_builder(builder):
            commit = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
            return (
                True,
                f"SLSA provenance from commit {commit['digest']['gitCommit'][:12]} by {builder}",
            )
    return False, f"provenance names builder {builder}, not {verifier.identity}"
