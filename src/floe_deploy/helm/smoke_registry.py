"""The smoke's offline path: every image pulled from one private registry, none from anywhere else.

With `helm.smoke --pull-from REGISTRY/PREFIX`, podman plays the pods from an image store of its
own that starts empty, so every image a pod runs is pulled during the smoke: with the Docker
login for REGISTRY (what the pull Secret holds on a cluster) and its CA (FLOE_REGISTRY_CA, else
FLOE_CA_BUNDLE). The store knows no search registries, so an unqualified name is not looked up
anywhere (helm.validate refuses them in a render). Podman's own event log of the smoke counts
the pulls; the report lists each one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.oci import docker_config_dir, host_of
from floe_deploy.settings import Settings

REGISTRIES_CONF = "unqualified-search-registries = []\n"


def registry_failure(stderr: str, registry: str) -> str | None:
    """podman's error lines about `registry` (a pull it refused), if that is why it failed."""
    lines = [line for line in stderr.splitlines() if line.startswith("Error:") and registry in line]
    return "\n".join(lines) or None


def not_in_registry(refused: str, registry: str, tag: str) -> FloeError | None:
    """A pull the registry answered with "manifest unknown": the release is not there."""
    if "manifest unknown" not in refused:
        return None
    return FloeError(
        f"{registry} does not hold the image podman pulled ({refused.splitlines()[-1]})",
        f"import the release there (`invoke bundle.import ARCHIVE --to {registry}/PREFIX`), or "
        f"pass the --tag and --pull-from PREFIX it holds (asked for: tag {tag})",
    )


class RegistryPull(BaseModel):
    """Where the smoke's images come from, and what podman pulls them with."""

    registry: str
    """host[:port]"""
    prefix: str
    tag: str
    authfile: Path
    cert_dir: Path | None
    """a directory holding the registry's CA as ca.crt (podman's --cert-dir)"""

    def image(self, name: str) -> str:
        path = f"{self.registry}/{self.prefix}" if self.prefix else self.registry
        return f"{path}/{name}:{self.tag}"

    def play_flags(self) -> list[str]:
        flags = ["--authfile", str(self.authfile)]
        return [*flags, "--cert-dir", str(self.cert_dir)] if self.cert_dir else flags


def pull_store_env(directory: Path) -> dict[str, str]:
    """Podman's settings for the smoke's own image store under `directory` (graph root and run
    root, so the smoke never sees the host's images) that knows no search registries."""
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage.conf"
    storage.write_text(
        '[storage]\ndriver = "overlay"\n'
        f'graphroot = "{directory / "graph"}"\nrunroot = "{directory / "run"}"\n'
    )
    registries = directory / "registries.conf"
    registries.write_text(REGISTRIES_CONF)
    return {"CONTAINERS_STORAGE_CONF": str(storage), "CONTAINERS_REGISTRIES_CONF": str(registries)}


def _login_podman_reads(registry: str, authfile: Path) -> None:
    """Podman's --authfile reads `auths` and `credHelpers` of the Docker config, not a
    credential store: refused here, before anything plays."""
    try:
        config = json.loads(authfile.read_text())
    except (OSError, ValueError):
        config = {}
    auths = config.get("auths") or {}
    if registry in auths or f"https://{registry}" in auths:
        return
    if registry in (config.get("credHelpers") or {}):
        return
    if config.get("credsStore"):
        raise FloeError(
            f"{authfile} keeps logins in a credential store (credsStore), which podman does not "
            "read",
            f"log in with a config that keeps the login itself: DOCKER_CONFIG=DIR docker login "
            f"{registry} (a DIR whose config.json has no credsStore), then pass that DOCKER_CONFIG",
        )
    raise FloeError(
        f"no login for {registry} in {authfile}",
        f"run `docker login {registry}` (or set DOCKER_CONFIG to a config that has one)",
    )


def registry_pull(settings: Settings, pull_from: str, tag: str, scratch: Path) -> RegistryPull:
    """The pull settings for `REGISTRY[/PREFIX]`, refused before anything plays when there is no
    `docker login` for it that podman can read."""
    registry = host_of(pull_from)
    prefix = pull_from.removeprefix("oci://").removeprefix(registry).strip("/")
    authfile = docker_config_dir() / "config.json"
    _login_podman_reads(registry, authfile)
    cert_dir = None
    if settings.registry_ca is not None:
        cert_dir = scratch / "registry-certs"
        shutil.rmtree(cert_dir, ignore_errors=True)
        cert_dir.mkdir(parents=True)
        shutil.copyfile(settings.registry_ca, cert_dir / "ca.crt")
    return RegistryPull(registry=registry, prefix=prefix, tag=tag, authfile=authfile,
                        cert_dir=cert_dir)  # fmt: skip


PAUSE_IMAGE = "localhost/podman-pause:"
"""The pods' infra image: podman builds it from catatonit, nothing is pulled."""


class PodmanEvents(BaseModel):
    """What podman's event log of a smoke says about images."""

    pulls: list[str]
    """the references pulled, each once, in order (podman notes a pull event for an image it
    already holds too: the registry's log tells the downloads apart)"""
    used: set[str]
    """the images containers were created from (the infra image left out)"""

    @classmethod
    def parse(cls, log: str) -> PodmanEvents:
        pulls, used = [], set()
        for line in log.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line a stopped podman left half-written
            if not isinstance(event, dict):
                continue
            if event.get("Type") == "image" and event.get("Status") == "pull":
                reference = str(event.get("Name"))
                pulls += [] if reference in pulls else [reference]
            elif event.get("Type") == "container" and event.get("Status") == "create":
                image = str(event.get("Image") or "")
                if image and not image.startswith(PAUSE_IMAGE):
                    used.add(image)
        return cls(pulls=pulls, used=used)

    def verdict(self, registry: str, expected: set[str]) -> str:
        """The report's check: every pull from `registry` and one of the `expected` references,
        every image used pulled here."""
        elsewhere = [reference for reference in self.pulls if host_of(reference) != registry]
        other = [r for r in self.pulls if r not in expected and r not in elsewhere]
        missing = sorted(self.used - set(self.pulls))
        if elsewhere:
            return f"FAIL: pulled from elsewhere: {', '.join(elsewhere)}"
        if other:
            return f"FAIL: pulled what the smoke does not play: {', '.join(other)}"
        if missing:
            return f"FAIL: played without a pull in this smoke: {', '.join(missing)}"
        if not self.pulls:
            return "FAIL: nothing was pulled"
        return f"ok: {len(self.pulls)} pulls, all from {registry}, every image played among them"
