"""A private registry as teams run one: TLS from a CA of its own and htpasswd logins.

The server is the real distribution registry: Debian's `docker-registry` binary for fast tests
(`registry_process`), or the registry image in a container for e2e (`registry_files` + the
container plugin). The CA, certificate and password file are made here for each test.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import bcrypt
import httpx
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from floe_deploy.testing import free_port
from floe_deploy.tls import server_tls

USERNAME = "release-bot"


@dataclass(frozen=True)
class RegistryFiles:
    """What a private registry is configured with, on disk."""

    directory: Path
    ca_file: Path
    certificate: Path
    key: Path
    htpasswd: Path
    username: str
    password: str


@dataclass(frozen=True)
class PrivateRegistry:
    address: str
    files: RegistryFiles


def registry_files(directory: Path, password: str) -> RegistryFiles:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an htpasswd (bcrypt) file."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = server_tls("floe test registry CA", ["127.0.0.1", "localhost"], timedelta(days=2))
    files = RegistryFiles(
        directory=directory,
        ca_file=directory / "ca.crt",
        certificate=directory / "server.crt",
        key=directory / "server.key",
        htpasswd=directory / "htpasswd",
        username=USERNAME,
        password=password,
    )
    files.ca_file.write_text(tls.ca)
    files.certificate.write_text(tls.cert)
    files.key.write_text(tls.key)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    files.htpasswd.write_text(f"{USERNAME}:{hashed}\n")
    return files


def write_docker_login(docker_config: Path, address: str, username: str, password: str) -> None:
    """What `docker login` stores in config.json (for tests that run without a Docker engine)."""
    docker_config.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {address: {"auth": token}}}))


@retry(
    retry=retry_if_exception_type(httpx.HTTPError),
    stop=stop_after_delay(60),
    wait=wait_fixed(0.2),
    reraise=True,
)
def wait_until_serving(address: str, ca_file: Path | None) -> None:
    """Any answer (401 without a login) means the registry serves; over TLS when `ca_file`."""
    if ca_file is None:
        httpx.get(f"http://{address}/v2/", timeout=2)
    else:
        context = ssl.create_default_context(cafile=ca_file)
        httpx.get(f"https://{address}/v2/", verify=context, timeout=2)


def registry_log_length(registry: PrivateRegistry) -> int:
    """Lines in the registry's request log so far: `served(..., after_line=)` reads past them."""
    return len((registry.files.directory / "registry.log").read_text().splitlines())


def served(registry: PrivateRegistry, kind: str, after_line: int = 0) -> list[str]:
    """`repository:reference` of every `kind` ("manifests" or "blobs") the registry served to a
    GET with 200, in order, from its request log after `after_line`: what clients pulled,
    counted on the registry's side."""
    found = []
    lines = (registry.files.directory / "registry.log").read_text().splitlines()[after_line:]
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the access log's own lines, beside the JSON ones
        uri = str(entry.get("http.request.uri") or "")
        repository, _, reference = uri.removeprefix("/v2/").partition(f"/{kind}/")
        if (entry.get("http.request.method") == "GET" and reference
                and entry.get("http.response.status") == 200):  # fmt: skip
            found.append(f"{repository}:{reference}")
    return found


@contextmanager
def registry_process(
    directory: Path, password: str | None = None, *, private: bool = True
) -> Iterator[PrivateRegistry]:
    """Debian's `docker-registry` on 127.0.0.1:<free port> with TLS and htpasswd authentication
    (or, not `private`, plain HTTP without logins, as the local registry of `platform.up`). It
    logs every request it answers to `registry.log` (see `served`)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: run scripts/bootstrap")
    files = registry_files(directory, password or secrets.token_urlsafe(12))
    address = f"127.0.0.1:{free_port()}"
    config = directory / "config.yml"
    http: dict[str, object] = {"addr": address}
    settings: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}},
        "http": http,
    }
    if private:
        http["tls"] = {"certificate": str(files.certificate), "key": str(files.key)}
        settings["auth"] = {"htpasswd": {"realm": "floe-test", "path": str(files.htpasswd)}}
    config.write_text(json.dumps(settings))
    log = (directory / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        wait_until_serving(address, files.ca_file if private else None)
        yield PrivateRegistry(address=address, files=files)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
