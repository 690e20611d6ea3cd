"""Every registry operation of the toolkit through one client: the oras CLI.

oras reads the Docker credential store (`docker login`, `credsStore`, `credHelpers`, `DOCKER_CONFIG`)
and takes a registry CA, so a private registry behind a login and its own CA works the same for
existence checks, manifest lists, referrers (SBOMs, provenance), copies (mirror, promote) and
charts. cosign and the Docker daemon reach registries themselves; `cosign_flags` and
`classify_failure` give them the same CA and the same error messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from floe_deploy.commands import TIMED_OUT, attempt
from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.settings import Settings

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
TIMEOUT_S = 600.0


class Fault(StrEnum):
    """Why a registry refused: each has its own fix."""

    AUTHENTICATION = "authentication"
    AUTHORISATION = "authorisation"
    TLS_TRUST = "tls-trust"
    REACHABILITY = "reachability"
    REGISTRY = "registry"


class RegistryError(FloeError):
    """A registry operation failed; `fault` says which kind of fix applies."""

    def __init__(self, host: str, fault: Fault, message: str, remediation: str, details: str):
        super().__init__(message, remediation, exit_code=ExitCode.FAILURE, details=details)
        self.host = host
        self.fault = fault


class Descriptor(BaseModel):
    """An OCI content descriptor (what a manifest list entry or a referrer points at)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    media_type: str = Field(alias="mediaType")
    digest: str
    size: int
    platform: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    def entry(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def host_of(reference: str) -> str:
    """`host:port/repo:tag` → `host:port` (an `oci://` prefix is allowed)."""
    return reference.removeprefix("oci://").split("/", 1)[0]


def is_loopback(host: str) -> bool:
    return host.startswith("[::1]") or host.rsplit(":", 1)[0] in LOOPBACK


def repository_of(reference: str) -> str:
    """`host/repo/name:tag` or `…@sha256:…` → `host/repo/name`."""
    bare = reference.removeprefix("oci://")
    if "@" in bare:
        return bare.split("@", 1)[0]
    head, _, last = bare.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else bare


def docker_config_dir() -> Path:
    """Where `docker login` keeps credentials: $DOCKER_CONFIG, else ~/.docker."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


_FAILURES: list[tuple[tuple[str, ...], Fault, str, str]] = [
    (("credential not found", "no basic auth credentials"), Fault.AUTHENTICATION,
     "no login for {host}", "run `docker login {host}` (or set DOCKER_CONFIG to a config that has one)"),
    (("status code 401", "unauthorized", "authentication required"), Fault.AUTHENTICATION,
     "{host} refused the stored credentials (wrong password or expired token)",
     "run `docker login {host}` again with valid credentials"),
    (("status code 403", "denied", "insufficient_scope", "forbidden"), Fault.AUTHORISATION,
     "{host} denies this account access to the repository",
     "ask the registry's admins for pull/push rights, or log in as an account that has them"),
    (("x509", "certificate", "tls:"), Fault.TLS_TRUST, "the TLS certificate of {host} is not trusted",
     "pass the registry's CA bundle with FLOE_REGISTRY_CA (for docker push also copy it to "
     "/etc/docker/certs.d/{host}/ca.crt)"),
    (("server gave http response",), Fault.TLS_TRUST, "{host} speaks plain HTTP",
     "serve the registry over TLS; only loopback registries may use plain HTTP"),
    (("connection refused", "no such host", "i/o timeout", "deadline exceeded", "network is unreachable",
      "connection reset", "no route to host", "did not answer"), Fault.REACHABILITY,
     "{host} is not reachable",
     "check the registry address and the network (`invoke platform.up` starts the local one)"),
]  # fmt: skip
"""Markers in a client's output → the kind of failure, its message and its fix (first match wins)."""


def has_login(host: str) -> bool:
    """`docker login` left credentials for `host` (or a credential store that may hold them)."""
    try:
        config = json.loads((docker_config_dir() / "config.json").read_text())
    except (OSError, ValueError):
        return False
    auths = config.get("auths") or {}
    return bool(
        config.get("credsStore")
        or host in (config.get("credHelpers") or {})
        or host in auths
        or f"https://{host}" in auths
    )


def classify_failure(host: str, output: str, action: str) -> RegistryError:
    """One message per kind of failure, whoever (oras, cosign, dockerd) reported it; a refusal
    of credentials that were never stored is a missing login."""
    text = output.lower()
    last = (output.strip().splitlines() or [""])[-1][:300]
    for markers, fault, message, remediation in _FAILURES:
        found = next((marker for marker in markers if marker in text), None)
        if found is not None:
            never_logged_in = fault is Fault.AUTHENTICATION and not has_login(host)
            said, fix = _FAILURES[0][2:] if never_logged_in else (message, remediation)
            cause = re.search(r"x509: [^\n\"]+", output) if fault is Fault.TLS_TRUST else None
            reason = cause[0] if cause else found
            return RegistryError(
                host,
                fault,
                f"{action}: {said.format(host=host)} ({reason})",
                fix.format(host=host),
                "",
            )
    return RegistryError(
        host, Fault.REGISTRY, f"{action}: {host} failed", "read the registry's answer below", last
    )


EMPTY_BLOB = b"{}"
"""The OCI empty descriptor's content: what an access check pushes (every artifact has it)."""


def _not_found(output: str) -> bool:
    """Not there. GHCR (and GitLab) answer `denied` to a read of a package that does not exist
    yet, so a denied read counts as missing; whether this account may write is `check_push`'s
    question, asked before anything is built."""
    text = output.lower()
    return any(
        marker in text for marker in (": not found", "manifest unknown", "name unknown", "denied")
    )


@dataclass
class OciClient:
    """The oras CLI with the credentials of `docker login` and the registry's CA."""

    ca_file: Path | None = None
    timeout: float = TIMEOUT_S
    _plain_http: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> OciClient:
        return cls(ca_file=settings.registry_ca)

    def _oras(self) -> str:
        found = shutil.which("oras")
        if found is None:
            raise FloeError("oras is not installed", "run scripts/bootstrap")
        return found

    def _connection(self, host: str, *, prefix: str = "") -> list[str]:
        flags = [f"--{prefix}registry-config", str(docker_config_dir() / "config.json")]
        if self._plain_http.get(host):
            return [*flags, f"--{prefix}plain-http"]
        if self.ca_file is not None:
            flags += [f"--{prefix}ca-file", str(self.ca_file)]
        return flags

    def _execute(
        self, argv: list[str], stdin: bytes | None, cwd: Path | None
    ) -> subprocess.CompletedProcess[bytes]:
        done = attempt(argv, stdin=stdin, cwd=cwd, timeout=self.timeout, binary=True)
        if done.returncode == TIMED_OUT:
            return subprocess.CompletedProcess(argv, 1, b"", b"the registry did not answer in time")
        return done

    def run(
        self,
        command: list[str],
        references: list[str],
        *,
        action: str,
        stdin: bytes | None = None,
        missing_ok: bool = False,
        extra: list[str] | None = None,
        cwd: Path | None = None,
        side: str = "",
    ) -> bytes | None:
        """`oras <command> <flags> <references> <extra>`; None when missing_ok and it is not there.

        A loopback registry that answers plain HTTP is retried (and remembered) without TLS, as
        dockerd and buildx do for loopback addresses. `side` ("from-" or "to-") names the
        registry's end of a copy whose other end is an OCI image layout.
        """
        host = host_of(references[0])
        for _ in range(len(references) + 1):
            if command == ["cp"] and not side:
                flags = [*self._connection(host_of(references[0]), prefix="from-"),
                         *self._connection(host_of(references[1]), prefix="to-")]  # fmt: skip
            else:
                flags = self._connection(host, prefix=side)
            targets = [reference.removeprefix("oci://") for reference in references]
            done = self._execute(
                [self._oras(), *command, *flags, *targets, *(extra or [])], stdin, cwd
            )
            output = (done.stderr or b"").decode(errors="replace") + (done.stdout or b"").decode(
                errors="replace"
            )
            if done.returncode == 0:
                return done.stdout
            if "server gave http response" in output.lower():
                plain_host = next(
                    (
                        h
                        for h in map(host_of, references)
                        if is_loopback(h) and not self._plain_http.get(h) and f"//{h}/" in output
                    ),
                    None,
                )
                if plain_host is not None:
                    self._plain_http[plain_host] = True
                    continue
            if missing_ok and _not_found(output):
                return None
            failed = next(
                (
                    h
                    for h in map(host_of, references)
                    if re.search(re.escape(h) + r"(?!\d)", output)
                ),
                host,
            )
            raise classify_failure(failed, output, action)
        raise classify_failure(host, "server gave HTTP response", action)

    def fetch(self, reference: str) -> tuple[Descriptor, dict[str, Any]] | None:
        """The manifest (or index) a reference names, and its descriptor; None if there is none."""
        raw = self.run(
            ["manifest", "fetch"], [reference], action=f"reading {reference}", missing_ok=True
        )
        if raw is None:
            return None
        body: dict[str, Any] = json.loads(raw)
        media_type = str(body.get("mediaType") or (INDEX_TYPE if "manifests" in body else ""))
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        return Descriptor(media_type=media_type, digest=digest, size=len(raw)), body

    def resolve(self, reference: str) -> Descriptor | None:
        fetched = self.fetch(reference)
        return None if fetched is None else fetched[0]

    def check(self, host: str, repository: str) -> None:
        """Reach, trust and log in to `host` (a read of `repository`); raises RegistryError."""
        self.fetch(f"{host}/{repository}:floe-access-check")

    def check_push(self, repository: str, scratch: Path) -> None:
        """This account may push to `host/repository`: the empty blob is pushed there (a blob no
        tag names, which every OCI artifact carries anyway); raises RegistryError."""
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "empty.json").write_bytes(EMPTY_BLOB)
        digest = "sha256:" + hashlib.sha256(EMPTY_BLOB).hexdigest()
        self.run(["blob", "push"], [f"{repository}@{digest}"], action=f"checking push rights to {repository}",
                 extra=["empty.json"], cwd=scratch)  # fmt: skip

    def push_manifest(self, reference: str, body: dict[str, Any], media_type: str) -> Descriptor:
        """Push a manifest (by digest when `reference` has no tag); returns its descriptor."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        self.run(["manifest", "push"], [reference], action=f"pushing {reference}", stdin=raw,
                 extra=["--media-type", media_type, "-"])  # fmt: skip
        return Descriptor(
            media_type=media_type, digest="sha256:" + hashlib.sha256(raw).hexdigest(), size=len(raw)
        )

    def tag(self, digest_reference: str, tags: list[str]) -> None:
        self.run(["tag"], [digest_reference], action=f"tagging {digest_reference}", extra=tags)

    def attach(
        self, subject: str, file: Path, media_type: str, annotations: dict[str, str] | None = None
    ) -> str:
        """Push `file` as an artifact referring to `subject`; returns the artifact's digest."""
        extra = ["--artifact-type", media_type, "--format", "json"]
        for key, value in (annotations or {}).items():
            extra += ["--annotation", f"{key}={value}"]
        out = self.run(["attach"], [subject], action=f"attaching {file.name} to {subject}",
                       extra=[*extra, f"{file.name}:{media_type}"], cwd=file.parent) or b"{}"  # fmt: skip
        digest: str = json.loads(out).get("digest", "")
        return digest

    def referrers(self, subject: str, artifact_type: str) -> list[Descriptor]:
        """The artifacts of one type that refer to `subject`."""
        out = self.run(["discover"], [subject], action=f"listing referrers of {subject}",
                       extra=["--artifact-type", artifact_type, "--format", "json"]) or b"{}"  # fmt: skip
        document = json.loads(out)
        entries = document.get("manifests") or document.get("referrers") or []
        return [Descriptor.model_validate(entry) for entry in entries]

    def pull_blob(self, subject: str, directory: Path) -> list[Path]:
        """Pull an artifact's files into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        before = set(directory.iterdir())
        self.run(["pull"], [subject], action=f"pulling {subject}", cwd=directory)
        return sorted(set(directory.iterdir()) - before)

    def fetch_blob(self, digest_reference: str, output: Path) -> None:
        """Download one blob (checked against its digest) to `output`."""
        self.run(["blob", "fetch"], [digest_reference], action=f"fetching {digest_reference}",
                 extra=["--output", str(output)])  # fmt: skip

    def copy(self, source: str, target: str, *, recursive: bool = True) -> None:
        """Copy an image (every platform) and, with `recursive`, its referrers, registry to registry."""
        self.run(["cp"], [source, target], action=f"copying {source} to {target}",
                 extra=["-r"] if recursive else [])  # fmt: skip

    def copy_to_layout(self, source: str, layout: Path, name: str) -> None:
        """Copy a manifest or index (every platform, every blob) into an OCI image layout
        directory, under the reference name `name`."""
        self.run(["cp"], [source], action=f"copying {source} into {layout}", side="from-",
                 extra=["--to-oci-layout", f"{layout}:{name}"])  # fmt: skip

    def copy_from_layout(self, layout: Path, digest: str, target: str) -> None:
        """Push what an OCI image layout holds under `digest` (byte for byte, so the digest stays)
        to `target` (a tag or digest reference)."""
        self.run(["cp", "--from-oci-layout", f"{layout}@{digest}"], [target],
                 action=f"pushing {digest} to {target}", side="to-")  # fmt: skip

    def push_files(
        self,
        reference: str,
        files: list[tuple[Path, str]],
        *,
        config: tuple[Path, str] | None = None,
        annotations: dict[str, str] | None = None,
        oci_layout: bool = False,
    ) -> Descriptor:
        """Push files as one artifact (a Helm chart: its config and its archive); with
        `oci_layout`, `reference` is `DIRECTORY:NAME` of an OCI image layout."""
        directory = files[0][0].parent
        extra = ["--format", "json"]
        if config is not None:
            extra += ["--config", f"{config[0].name}:{config[1]}"]
        for key, value in (annotations or {}).items():
            extra += ["--annotation", f"{key}={value}"]
        extra += [f"{path.name}:{media_type}" for path, media_type in files]
        command = ["push", "--oci-layout"] if oci_layout else ["push"]
        out = self.run(command, [reference], action=f"pushing {reference}", extra=extra,
                       cwd=directory) or b"{}"  # fmt: skip
        document = json.loads(out)
        return Descriptor(media_type=document.get("mediaType", ""), digest=document["digest"],
                          size=int(document.get("size", 0)))  # fmt: skip

    def cosign_flags(self, reference: str) -> list[str]:
        """The same trust for cosign: the CA for TLS registries (loopback plain HTTP needs none)."""
        if self.ca_file is not None and not self._plain_http.get(host_of(reference)):
            return ["--registry-cacert", str(self.ca_file)]
        return []
