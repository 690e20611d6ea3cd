"""Build provenance: an in-toto statement with a SLSA v1 provenance predicate per published image,
attached as a cosign attestation (signed like the image) and verified like the signature.

It records what a reviewer needs to rebuild or audit an image: the source commit, the builder,
the base images' digests and the digest of the lockfile the wheels were resolved from.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.build import BuiltImage
from floe_deploy.images.signing import Signer, Verifier, cosign
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.oci import OciClient, RegistryError
from floe_deploy.paths import PROJECT_ROOT

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:floe-deploy:image-build:v1"
COSIGN_TYPE = "slsaprovenance1"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_predicate(
    image: str, builds: list[BuiltImage], version: ReleaseVersion, started: datetime
) -> dict[str, Any]:
    """The SLSA v1 predicate for one multi-platform image."""
    bases = {
        reference: image_id for built in builds for reference, image_id in built.base_images.items()
    }
    dependencies: list[dict[str, Any]] = [
        {"uri": "git+file://" + str(PROJECT_ROOT), "digest": {"gitCommit": version.revision}},
        {"name": "uv.lock", "digest": {"sha256": _sha256(PROJECT_ROOT / "uv.lock")}},
    ]
    dependencies += [
        {
            "uri": f"docker-image://{reference}",
            "digest": {"sha256": image_id.removeprefix("sha256:")},
        }
        for reference, image_id in sorted(bases.items())
    ]
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "image": image,
                "version": version.version,
                "platforms": sorted(built.platform for built in builds),
            },
            "internalParameters": {
                "images": {built.platform: built.image_id for built in builds},
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": "urn:floe-deploy:invoke-publish",
                "version": {"host": platform.platform()},
            },
            "metadata": {
                "startedOn": started.isoformat(),
                "finishedOn": datetime.now(UTC).isoformat(),
            },
        },
    }


def attest(
    oci: OciClient,
    digest_reference: str,
    predicate: dict[str, Any],
    signer: Signer,
    directory: Path,
) -> Path:
    """Sign the predicate into an attestation on `digest_reference`; returns the predicate file."""
    directory.mkdir(parents=True, exist_ok=True)
    name = digest_reference.rsplit("/", 1)[-1].replace("@", "-").replace(":", "-")
    path = directory / f"{name}.provenance.json"
    path.write_text(json.dumps(predicate, indent=2))
    flags = [*signer.flags(), "--type", COSIGN_TYPE, "--predicate", str(path)]
    cosign(oci, "attest", digest_reference, flags, f"attesting {digest_reference}")
    return path


def verify_provenance(
    oci: OciClient, digest_reference: str, verifier: Verifier
) -> tuple[bool, str]:
    """The attestation verifies and its predicate is SLSA provenance for exactly this digest."""
    flags = [*verifier.flags(), "--type", COSIGN_TYPE]
    try:
        out = cosign(
            oci, "verify-attestation", digest_reference, flags, f"verifying {digest_reference}"
        )
    except FloeError as error:
        if error.exit_code is not ExitCode.FAILURE or isinstance(error, RegistryError):
            raise
        return False, (error.details.splitlines() or ["no valid provenance"])[-1]
    for line in out.splitlines():
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        subjects = {s["digest"]["sha256"] for s in statement.get("subject", [])}
        if (
            statement.get("predicateType") == PREDICATE_TYPE
            and digest_reference.rsplit(":", 1)[-1] in subjects
        ):
            commit = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]
            return True, f"SLSA provenance from commit {commit['gitCommit'][:12]}"
    return False, "no SLSA provenance statement for this digest"
