"""Signatures (cosign, key-based, no transparency log) and attached SBOMs (oras referrers).

Both binaries come from Debian (scripts/bootstrap); a dev key pair is generated in the state dir
when no --key is given, which suits the local registry, not a production release.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from floe_deploy.commands import run
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.registry_api import plain_http, split_reference
from floe_deploy.images.sbom import MEDIA_TYPE
from floe_deploy.settings import Settings


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FloeError(f"{name} is not installed", "run scripts/bootstrap")
    return found


def dev_key_pair(settings: Settings) -> tuple[Path, Path]:
    """The local dev key pair (created once, empty password) for signing into the local registry."""
    directory = settings.state_dir / "cosign"
    key, pub = directory / "cosign.key", directory / "cosign.pub"
    if not key.exists():
        directory.mkdir(parents=True, exist_ok=True)
        run(
            [_tool("cosign"), "generate-key-pair"],
            cwd=directory,
            env={"COSIGN_PASSWORD": ""},
            remediation="check cosign",
        )
    return key, pub


def sign(digest_reference: str, key: Path) -> None:
    if not key.is_file():
        raise FloeError(
            f"signing key {key} does not exist", "pass --key PATH to a cosign private key"
        )
    run(
        [_tool("cosign"), "sign", "--key", str(key), "--tlog-upload=false", "-y", digest_reference],
        env={"COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", "")},
        remediation="check the key's password (COSIGN_PASSWORD) and that the registry accepts pushes",
        timeout=300,
    )


def verify_signature(digest_reference: str, public_key: Path) -> tuple[bool, str]:
    try:
        run(
            [
                _tool("cosign"),
                "verify",
                "--key",
                str(public_key),
                "--insecure-ignore-tlog",
                digest_reference,
            ],
            remediation="sign the image (`invoke images.publish`) with the matching key",
            timeout=300,
        )
    except FloeError as error:
        if error.exit_code is not ExitCode.FAILURE:
            raise
        return False, (error.details.splitlines() or ["verification failed"])[-1]
    return True, f"signed by {public_key.name}"


def _plain(reference: str) -> list[str]:
    return ["--plain-http"] if plain_http(split_reference(reference)[0]) else []


def attach_sbom(digest_reference: str, sbom: Path) -> str:
    """Push the SBOM as an artifact referring to the image; returns the artifact's digest."""
    out = run(
        [_tool("oras"), "attach", *_plain(digest_reference), "--artifact-type", MEDIA_TYPE,
         "--format", "json", digest_reference, f"{sbom.name}:{MEDIA_TYPE}"],
        cwd=sbom.parent,
        remediation="check that the registry accepts pushes",
        timeout=300,
    )  # fmt: skip
    digest: str = json.loads(out).get("digest", "")
    return digest


def attached_sboms(digest_reference: str) -> list[str]:
    """Digests of the CycloneDX artifacts that refer to the image."""
    out = run(
        [_tool("oras"), "discover", *_plain(digest_reference), "--artifact-type", MEDIA_TYPE,
         "--format", "json", digest_reference],
        remediation="check the registry address",
        timeout=120,
    )  # fmt: skip
    document = json.loads(out)
    referrers = document.get("manifests") or document.get("referrers") or []
    return [entry["digest"] for entry in referrers]
