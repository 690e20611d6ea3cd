"""Signatures and attestations (cosign) and attached SBOMs (referrers).

Two ways to sign: a cosign key pair (no transparency log; a dev key pair is generated in the
state dir when no --key is given, which suits the local registry, not a production release), or
keyless: Sigstore issues a short-lived certificate for the CI job's OIDC identity and records the
signature in its transparency log, so verifiers check who signed instead of holding a key.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_deploy.commands import run
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.oci import Fault, OciClient, RegistryError, classify_failure, host_of
from floe_deploy.settings import Settings


def cosign_binary() -> str:
    return _tool("cosign")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FloeError(f"{name} is not installed", "run scripts/bootstrap")
    return found


def key_pair(directory: Path, password: str) -> tuple[Path, Path]:
    """A cosign key pair in `directory` (cosign.key, cosign.pub), made once."""
    key, pub = directory / "cosign.key", directory / "cosign.pub"
    if not key.exists():
        directory.mkdir(parents=True, exist_ok=True)
        run(
            [_tool("cosign"), "generate-key-pair"],
            cwd=directory,
            env={"COSIGN_PASSWORD": password},
            remediation="check cosign",
        )
    return key, pub


def dev_key_pair(settings: Settings) -> tuple[Path, Path]:
    """The local dev key pair (empty password) for signing into the local registry."""
    return key_pair(settings.state_dir / "cosign", "")


OIDC_REQUEST_VARIABLES = {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
"""What GitHub Actions gives a job with `id-token: write`; cosign asks it for Sigstore's token."""


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

    def check(self) -> None:
        """The signing material works, before anything is built: the key opens with
        COSIGN_PASSWORD; keyless, the job can get an OIDC token for Sigstore."""
        if self.key is None:
            if not (
                os.environ.keys() >= OIDC_REQUEST_VARIABLES or "SIGSTORE_ID_TOKEN" in os.environ
            ):
                raise FloeError(
                    "keyless signing needs the CI job's OIDC token, and this environment has none",
                    "grant the job `permissions: id-token: write` (GitHub Actions), set "
                    "SIGSTORE_ID_TOKEN, or sign with --key",
                )
            return
        run([_tool("cosign"), "public-key", "--key", str(self.key)],
            env={"COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", "")},
            remediation=f"set COSIGN_PASSWORD to the password of {self.key}")  # fmt: skip

    def flags(self) -> list[str]:
        if self.key is None:
            return ["--yes"]
        return ["--key", str(self.key), "--tlog-upload=false", "--yes"]


GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Verifier:
    """What a valid signature must chain to: a public key, or a keyless signer's identity.

    The identity is matched exactly (cosign's `--certificate-identity`); a pattern only when
    asked for (`identity_regexp`), and then anchored. For a GitHub workflow identity the
    certificate's repository and trigger are checked too. With a key, `identity` is the builder
    the signed provenance must name exactly (the workflow that published).
    """

    public_key: Path | None = None
    identity: str | None = None
    issuer: str | None = None
    identity_regexp: bool = False

    @classmethod
    def choose(
        cls,
        settings: Settings,
        public_key: Path | None,
        identity: str | None,
        issuer: str | None,
        *,
        identity_regexp: bool = False,
    ) -> Verifier:
        if issuer and not identity:
            raise FloeError(
                "--certificate-oidc-issuer needs --certificate-identity",
                "e.g. --certificate-identity 'https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.4.0' "
                f"--certificate-oidc-issuer {GITHUB_ISSUER}",
            )
        if identity_regexp and identity:
            identity = anchored(identity)
        if identity and public_key is None and issuer is None:
            raise FloeError(
                "--certificate-identity needs --certificate-oidc-issuer (keyless) or --key (the "
                "identity is then the builder the signed provenance names)",
                f"add --certificate-oidc-issuer {GITHUB_ISSUER}, or --key PUBLIC_KEY",
            )
        if issuer:
            if public_key is not None:
                raise FloeError("--key and --certificate-oidc-issuer exclude each other",
                                "verify with a key, or keyless with an identity and its issuer")  # fmt: skip
            return cls(identity=identity, issuer=issuer, identity_regexp=identity_regexp)
        return cls(
            public_key=public_key or dev_key_pair(settings)[1],
            identity=identity,
            identity_regexp=identity_regexp,
        )

    def flags(self) -> list[str]:
        if self.public_key is not None:
            return ["--key", str(self.public_key), "--insecure-ignore-tlog"]
        identity = str(self.identity)
        flags = ["--certificate-identity-regexp" if self.identity_regexp else "--certificate-identity",
                 identity, "--certificate-oidc-issuer", str(self.issuer)]  # fmt: skip
        workflow = github_workflow(identity)
        if workflow is not None and not self.identity_regexp:
            flags += ["--certificate-github-workflow-repository", workflow.repository,
                      "--certificate-github-workflow-ref", workflow.ref]  # fmt: skip
        if self.issuer == GITHUB_ISSUER:
            flags += ["--certificate-github-workflow-trigger", "push"]
        return flags

    def accepts_builder(self, builder: str) -> bool:
        """A key-signed provenance's builder is the expected identity (exactly, or the pattern)."""
        if self.identity is None or self.public_key is None:
            return True
        if self.identity_regexp:
            return re.fullmatch(self.identity, builder) is not None
        return builder == self.identity

    def describe(self) -> str:
        if self.public_key is None:
            return f"signed by {self.identity}"
        return f"signed by {self.public_key.name}" + (
            f", built by {self.identity}" if self.identity else ""
        )


def anchored(pattern: str) -> str:
    """A pattern matched against the whole identity: `^...$`, so no prefix or suffix sneaks in."""
    return f"^{pattern.removeprefix('^').removesuffix('$')}$"


@dataclass(frozen=True)
class GithubWorkflow:
    repository: str
    path: str
    ref: str


def github_workflow(identity: str) -> GithubWorkflow | None:
    """`https://github.com/OWNER/REPO/.github/workflows/FILE@REF` → its parts (None otherwise)."""
    matched = re.fullmatch(
        r"https://[^/]+/([^/]+/[^/]+)/(\.github/workflows/[^@]+)@(refs/.+)", identity
    )
    if matched is None:
        return None
    return GithubWorkflow(repository=matched[1], path=matched[2], ref=matched[3])


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


def attest(
    oci: OciClient, digest_reference: str, predicate: Path, predicate_type: str, signer: Signer
) -> None:
    """Sign `predicate` into an in-toto attestation on `digest_reference` (cosign's `.att` tag)."""
    flags = [*signer.flags(), "--type", predicate_type, "--predicate", str(predicate)]
    cosign(oci, "attest", digest_reference, flags, f"attesting {digest_reference}")


def attested_types(oci: OciClient, digest_reference: str) -> set[str]:
    """The predicate types of the attestations cosign keeps on `digest_reference` (its `.att`
    tag), unverified: what a re-run of a publish need not attest again."""
    repository, _, digest = digest_reference.partition("@")
    fetched = oci.fetch(f"{repository}:{digest.replace(':', '-')}.att")
    if fetched is None:
        return set()
    return {
        str((layer.get("annotations") or {}).get("predicateType", ""))
        for layer in fetched[1].get("layers", [])
    }


def verified_statements(
    oci: OciClient, digest_reference: str, predicate_type: str, verifier: Verifier
) -> tuple[list[dict[str, Any]], str]:
    """The in-toto statements of one type on `digest_reference` whose signature verifies and whose
    subject is that digest; with a reason when there is none."""
    flags = [*verifier.flags(), "--type", predicate_type]
    try:
        out = cosign(oci, "verify-attestation", digest_reference, flags,
                     f"verifying {digest_reference}")  # fmt: skip
    except FloeError as error:
        if error.exit_code is not ExitCode.FAILURE or isinstance(error, RegistryError):
            raise
        return [], (error.details.splitlines() or ["no valid attestation"])[-1]
    digest = digest_reference.rsplit("@", 1)[-1].removeprefix("sha256:")
    statements = []
    for line in out.splitlines():
        statement: dict[str, Any] = json.loads(base64.b64decode(json.loads(line)["payload"]))
        if digest in {s["digest"].get("sha256") for s in statement.get("subject", [])}:
            statements.append(statement)
    return statements, "" if statements else f"no {predicate_type} statement for this digest"


SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
REKOR_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"


def _verify_offline(
    command: list[str], verifier: Verifier, annotations: dict[str, str], scratch: Path
) -> tuple[bool, str]:
    """`cosign verify-blob[-attestation]` with the verifier's flags; keyless, the certificate,
    its chain and the transparency-log bundle come from the layer's cosign annotations."""
    flags = list(verifier.flags())
    if verifier.public_key is None:
        certificate, chain = scratch / "cert.pem", scratch / "chain.pem"
        certificate.write_text(annotations.get(CERTIFICATE_ANNOTATION, ""))
        chain.write_text(annotations.get(CHAIN_ANNOTATION, ""))
        flags += ["--certificate", str(certificate), "--certificate-chain", str(chain)]
        if REKOR_BUNDLE_ANNOTATION in annotations:
            bundle = scratch / "bundle.json"
            bundle.write_text(json.dumps({
                "base64Signature": annotations.get(SIGNATURE_ANNOTATION, ""),
                "cert": base64.b64encode(certificate.read_bytes()).decode(),
                "rekorBundle": json.loads(annotations[REKOR_BUNDLE_ANNOTATION]),
            }))  # fmt: skip
            flags += ["--bundle", str(bundle)]
    try:
        run([cosign_binary(), *command[:1], *flags, *command[1:]],
            remediation="check the key or identity the bundle was signed with", timeout=120)  # fmt: skip
    except FloeError as error:
        if error.exit_code is not ExitCode.FAILURE:
            raise
        return False, (error.details.splitlines() or ["verification failed"])[-1]
    return True, verifier.describe()


def verify_signature_blob(
    verifier: Verifier, payload: Path, annotations: dict[str, str], scratch: Path
) -> tuple[bool, str]:
    """A cosign image signature checked offline: the layer's signature over its payload (the
    payload names the signed digest; the caller checks it)."""
    signature = scratch / "signature"
    signature.write_text(annotations.get(SIGNATURE_ANNOTATION, ""))
    return _verify_offline(["verify-blob", "--signature", str(signature), str(payload)],
                           verifier, annotations, scratch)  # fmt: skip


def verify_attestation_blob(
    verifier: Verifier,
    envelope: Path,
    annotations: dict[str, str],
    subject: Path,
    scratch: Path,
) -> tuple[bool, str]:
    """A cosign attestation (a DSSE envelope) checked offline against its subject's bytes: the
    signature, the predicate type, and that the statement's subject digest is `subject`'s."""
    command = ["verify-blob-attestation", "--signature", str(envelope),
               "--type", annotations.get("predicateType", "custom"), str(subject)]  # fmt: skip
    return _verify_offline(command, verifier, annotations, scratch)
