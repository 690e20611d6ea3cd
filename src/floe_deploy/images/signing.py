"""Signatures and attestations (cosign) and attached SBOMs (referrers).

Two ways to sign: a cosign key pair (no transparency log; a dev key pair is generated in the
state dir when no --key is given, which suits the local registry, not a production release), or
keyless: Sigstore issues a short-lived certificate for the CI job's OIDC identity and records the
signature in its transparency log, so verifiers check who signed instead of holding a key.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from floe_deploy.commands import run
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.images.sbom import MEDIA_TYPE
from floe_deploy.oci import Fault, OciClient, RegistryError, classify_failure, host_of
from floe_deploy.settings import Settings


def cosign_binary() -> str:
    return _tool("cosign")


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


@dataclass(frozen=True)
class Signer:
    """How this publish signs: with `key`, or keyless (the CI's OIDC identity)."""

    key: Path | None = None

    @classmethod
    def choose(cls, settings: Settings, key: Path | None, keyless: bool) -> Signer:
        if keyless and key is not None:
            raise FloeError("--key and --keyless exclude each other", "choose one way to sign")
        if keyless:
            return cls(key=None)
        chosen = key or dev_key_pair(settings)[0]
        if not chosen.is_file():
            raise FloeError(
                f"signing key {chosen} does not exist", "pass --key PATH to a cosign private key"
            )
        return cls(key=chosen)

    def flags(self) -> list[str]:
        if self.key is None:
            return ["--yes"]
        return ["--key", str(self.key), "--tlog-upload=false", "--yes"]


@dataclass(frozen=True)
class Verifier:
    """What a valid signature must chain to: a public key, or a keyless signer's identity."""

    public_key: Path | None = None
    identity: str | None = None
    issuer: str | None = None

    @classmethod
    def choose(
        cls, settings: Settings, public_key: Path | None, identity: str | None, issuer: str | None
    ) -> Verifier:
        if identity or issuer:
            if not (identity and issuer) or public_key is not None:
                raise FloeError(
                    "keyless verification needs --certificate-identity and --certificate-oidc-issuer, and no --key",
                    "e.g. --certificate-identity 'https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.4.0' "
                    "--certificate-oidc-issuer https://token.actions.githubusercontent.com",
                )
            return cls(identity=identity, issuer=issuer)
        return cls(public_key=public_key or dev_key_pair(settings)[1])

    def flags(self) -> list[str]:
        if self.public_key is not None:
            return ["--key", str(self.public_key), "--insecure-ignore-tlog"]
        return ["--certificate-identity-regexp", str(self.identity),
                "--certificate-oidc-issuer", str(self.issuer)]  # fmt: skip

    def describe(self) -> str:
        return (
            f"signed by {self.public_key.name}" if self.public_key else f"signed by {self.identity}"
        )


def cosign(
    oci: OciClient, command: str, digest_reference: str, flags: list[str], action: str
) -> str:
    """Run cosign against a registry with the toolkit's trust; registry faults get their messages."""
    try:
        return run(
            [
                cosign_binary(),
                command,
                *flags,
                *oci.cosign_flags(digest_reference),
                digest_reference,
            ],
            env={"COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", "")},
            remediation="check the key's password (COSIGN_PASSWORD)",
            timeout=300,
        )
    except FloeError as error:
        if "password" in error.details.lower() or error.exit_code is not ExitCode.FAILURE:
            raise
        fault = classify_failure(host_of(digest_reference), error.details, action)
        if fault.fault is Fault.REGISTRY:
            raise
        raise fault from None


def sign(oci: OciClient, digest_reference: str, signer: Signer) -> None:
    """Sign by digest; cosign reads `docker login`'s credentials and gets the registry's CA."""
    cosign(oci, "sign", digest_reference, signer.flags(), f"signing {digest_reference}")


def verify_signature(oci: OciClient, digest_reference: str, verifier: Verifier) -> tuple[bool, str]:
    try:
        cosign(oci, "verify", digest_reference, verifier.flags(), f"verifying {digest_reference}")
    except FloeError as error:
        if error.exit_code is not ExitCode.FAILURE or isinstance(error, RegistryError):
            raise
        return False, (error.details.splitlines() or ["verification failed"])[-1]
    return True, verifier.describe()


def attach_sbom(oci: OciClient, digest_reference: str, sbom: Path) -> str:
    """Push the SBOM as an artifact referring to the image; returns the artifact's digest."""
    return oci.attach(digest_reference, sbom, MEDIA_TYPE)


def attached_sboms(oci: OciClient, digest_reference: str) -> list[str]:
    """Digests of the CycloneDX artifacts that refer to the image."""
    return [entry.digest for entry in oci.referrers(digest_reference, MEDIA_TYPE)]
