"""The few OCI distribution API calls the toolkit needs: does a tag exist, and what is in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from floe_deploy.errors import FloeError

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: dict[str, Any]

    @property
    def is_index(self) -> bool:
        return "manifests" in self.body


def plain_http(registry: str) -> bool:
    """Loopback registries speak plain HTTP (as dockerd and buildx assume); others HTTPS."""
    return registry.split(":", maxsplit=1)[0] in LOOPBACK or registry.startswith("[::1]")


def split_reference(reference: str) -> tuple[str, str, str]:
    """`host:port/repo/name:tag` or `…@sha256:…` → (registry, repository, tag or digest)."""
    registry, _, rest = reference.partition("/")
    if "@" in rest:
        repository, _, ref = rest.partition("@")
    else:
        repository, _, ref = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return registry, repository, ref


def get_manifest(reference: str, timeout: float = 10.0) -> Manifest | None:
    """The manifest (or index) a reference names; None when the registry has no such tag."""
    registry, repository, ref = split_reference(reference)
    scheme = "http" if plain_http(registry) else "https"
    try:
        response = httpx.get(
            f"{scheme}://{registry}/v2/{repository}/manifests/{ref}",
            headers={"Accept": MANIFEST_TYPES},
            timeout=timeout,
        )
    except httpx.HTTPError as error:
        raise FloeError(
            f"registry {registry} is not reachable ({error})",
            "check the registry address, or run `invoke platform.up` for the local one",
        ) from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise FloeError(
            f"registry {registry} answered {response.status_code} for {repository}:{ref}",
            "check the repository name and the registry's credentials",
        )
    return Manifest(
        digest=response.headers.get("Docker-Content-Digest", ""),
        media_type=response.headers.get("Content-Type", ""),
        body=response.json(),
    )


def platform_configs(reference: str) -> dict[str, str]:
    """platform → config digest (= the local image id) of every image in a tag's index."""
    index = get_manifest(reference)
    if index is None:
        return {}
    registry, repository, _ = split_reference(reference)
    entries: list[dict[str, Any]] = (
        index.body.get("manifests", [])
        if index.is_index
        else [{"digest": index.digest, "platform": {}}]
    )
    configs = {}
    for entry in entries:
        platform: dict[str, str] = entry.get("platform") or {}
        if platform.get("os") == "unknown":
            continue
        manifest = get_manifest(f"{registry}/{repository}@{entry['digest']}")
        if manifest is not None:
            configs[f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"] = (
                manifest.body["config"]["digest"]
            )
    return configs
