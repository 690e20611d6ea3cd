"""A registry that answers like GitHub's container registry, for release workflows run with act.

The storage and the registry protocol are the real distribution registry (Debian's
`docker-registry`) with its real token authentication: it accepts only JSON Web Tokens signed by
the test's issuer and enforces the scopes in them. In front of it, on a TLS port with a
certificate from a CA made for the test, this module plays GHCR's parts that no open-source
registry has (a protocol stand-in, per GHCR's documented behaviour):

- the token endpoint: `docker login`'s user name and the job's `GITHUB_TOKEN` as password; a
  token grants pull and push only under its owner's namespace (`<owner>/...`), as GHCR does;
- `DENIED` (403) for a repository that does not exist yet, and for a scope the token was refused,
  where distribution would answer 404 or 401;
- `refuse_pushes(prefix)` (no push rights) and `refuse_manifests(prefix)` (blobs land, manifests
  are DENIED: a publish that fails half-way), to inject failures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from floe_deploy.testing import free_port
from floe_deploy.testing.registries import wait_until_serving
from floe_deploy.tls import server_tls

SERVICE = "floe-ghcr"
ISSUER = "floe-test-token-issuer"
TOKEN_LIFETIME_S = 300
ANONYMOUS = "anonymous"
"""The subject of a token asked for without a login: refused with 401, never DENIED."""
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "trailer"}
DENIED_BODY = {
    "errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]
}


@dataclass(frozen=True)
class Account:
    """A job's login: the actor as user name, the job token as password, the owner it acts for."""

    username: str
    token: str
    owner: str


@dataclass
class GhcrLikeRegistry:
    """Where the registry answers, what to trust, and switches a test flips while it runs."""

    address: str
    ca_file: Path
    accounts: list[Account]
    refused_push_prefixes: set[str] = field(default_factory=set)
    refused_manifest_prefixes: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def refuse_pushes(self, prefix: str) -> None:
        """No push rights under `prefix` (the token endpoint grants pull only)."""
        self.refused_push_prefixes.add(prefix)

    def refuse_manifests(self, prefix: str) -> None:
        """Blobs are accepted under `prefix`, manifests are DENIED: a push that fails half-way."""
        self.refused_manifest_prefixes.add(prefix)

    def allow_pushes(self) -> None:
        self.refused_push_prefixes.clear()
        self.refused_manifest_prefixes.clear()


@dataclass(frozen=True)
class _Issuer:
    key_pem: str
    chain: list[str]

    def token(self, subject: str, access: list[dict[str, Any]], asked: list[str]) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "iat": now, "nbf": now - 5,
                  "exp": now + TOKEN_LIFETIME_S, "jti": secrets.token_hex(8), "access": access,
                  "asked": asked}  # fmt: skip
        return jwt.encode(claims, self.key_pem, algorithm="ES256", headers={"x5c": self.chain})

    def claims(self, token: str) -> dict[str, Any] | None:
        try:
            decoded: dict[str, Any] = jwt.decode(
                token, options={"verify_signature": False}, algorithms=["ES256"]
            )
        except jwt.PyJWTError:
            return None
        return decoded


def _scopes(query: str) -> list[tuple[str, list[str]]]:
    """`repository:owner/name:pull,push` scopes of a token request (repeated or space-separated)."""
    parsed = []
    for scope in query.split():
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and name:
            parsed.append((name, actions.split(",")))
    return parsed


def _repository_of(path: str) -> str | None:
    """`/v2/<name>/manifests/...` (or blobs, tags, referrers) → `<name>`."""
    parts = path.removeprefix("/v2/").split("/")
    for marker in ("manifests", "blobs", "tags", "referrers"):
        if marker in parts[1:]:
            return "/".join(parts[: parts.index(marker, 1)])
    return None


def _denied() -> web.Response:
    return web.json_response(DENIED_BODY, status=403)


class _Front:
    """The TLS front: GHCR's token endpoint and answers, the real registry behind it."""

    def __init__(
        self, registry: GhcrLikeRegistry, issuer: _Issuer, backend: str, storage: Path
    ) -> None:
        self.registry = registry
        self.issuer = issuer
        self.backend = backend
        self.storage = storage
        self.session: aiohttp.ClientSession | None = None

    def _account(self, request: web.Request) -> Account | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode(errors="replace").partition(":")
        return next(
            (a for a in self.registry.accounts if a.username == user and a.token == password), None
        )

    async def token(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None and "Authorization" in request.headers:
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                status=401,
            )
        scopes = _scopes(" ".join(request.query.getall("scope", [])))
        access = []
        for name, actions in scopes:
            granted = [a for a in actions if a in {"pull", "push", "delete"}]
            if account is None or not name.lower().startswith(f"{account.owner.lower()}/"):
                granted = []
            if any(name.startswith(p) for p in self.registry.refused_push_prefixes):
                granted = [a for a in granted if a == "pull"]
            if granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        token = self.issuer.token(
            account.username if account else ANONYMOUS, access, [name for name, _ in scopes]
        )
        return web.json_response(
            {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME_S}
        )

    def _exists(self, repository: str) -> bool:
        """A package exists once a manifest was pushed to it (distribution's storage layout)."""
        return (
            self.storage / "docker/registry/v2/repositories" / repository / "_manifests"
        ).is_dir()

    def _asked_for(self, authorization: str, repository: str) -> bool:
        """The presented token was issued for this repository (so a 401 is a refusal, not a
        request to fetch another token)."""
        if not authorization.startswith("Bearer "):
            return False
        claims = self.issuer.claims(authorization[7:]) or {}
        return claims.get("sub") != ANONYMOUS and repository in claims.get("asked", [])

    def _may_push(self, authorization: str, repository: str) -> bool:
        """GHCR answers 404 inside a package the token may push to (it is being created), and
        DENIED to a read-only token for a package that does not exist."""
        claims = self.issuer.claims(authorization.removeprefix("Bearer ")) or {}
        return any(
            entry.get("name") == repository and "push" in entry.get("actions", [])
            for entry in claims.get("access", [])
        )

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        repository = _repository_of(request.path)
        authorization = request.headers.get("Authorization", "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = request.content if request.body_exists else None
        if (
            request.method == "PUT"
            and "/manifests/" in request.path
            and any(
                (repository or "").startswith(p) for p in self.registry.refused_manifest_prefixes
            )
        ):
            self.registry.requests.append((request.method, request.path, 403))
            return _denied()
        async with self.session.request(
            request.method,
            f"{self.backend}{request.path_qs}",
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as upstream:
            status = upstream.status
            if (repository and status == 401 and self._asked_for(authorization, repository)) or (
                repository
                and status == 404
                and request.method in {"GET", "HEAD"}
                and "/blobs/" not in request.path
                and not self._may_push(authorization, repository)
                and not self._exists(repository)
            ):
                status = 403
            self.registry.requests.append((request.method, request.path, status))
            if status == 403:
                return _denied()
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    response.headers.add(name, value)
            if "Content-Length" in upstream.headers:
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(1 << 16):
                    await response.write(chunk)
            await response.write_eof()
            return response

    def app(self) -> web.Application:
        application = web.Application(client_max_size=0)
        application.router.add_get("/token", self.token)
        application.router.add_route("*", "/v2/{tail:.*}", self.proxy)
        application.router.add_route("*", "/v2", self.proxy)
        application.on_startup.append(self._open)
        application.on_cleanup.append(self._close)
        return application

    async def _open(self, _: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_read=600), auto_decompress=False
        )

    async def _close(self, _: web.Application) -> None:
        if self.session is not None:
            await self.session.close()


@contextmanager
def _serve(app: web.Application, listener: socket.socket, tls: ssl.SSLContext) -> Iterator[None]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, listener, ssl_context=tls).start())
    thread = threading.Thread(target=loop.run_forever, name="ghcr-like-front", daemon=True)
    thread.start()
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@contextmanager
def ghcr_like_registry(directory: Path, accounts: list[Account]) -> Iterator[GhcrLikeRegistry]:
    """The registry on `127.0.0.1:<port>` over TLS (its CA in `directory/ca.crt`)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: run scripts/bootstrap")
    directory.mkdir(parents=True, exist_ok=True)
    served = server_tls("floe test GHCR-like CA", ["127.0.0.1", "localhost"], timedelta(days=2))
    signing = server_tls("floe test token issuer CA", ["floe-token-issuer"], timedelta(days=2))
    (directory / "ca.crt").write_text(served.ca)
    (directory / "server.crt").write_text(served.cert)
    (directory / "server.key").write_text(served.key)
    (directory / "token-ca.crt").write_text(signing.ca)
    leaf = x509.load_pem_x509_certificate(signing.cert.encode())
    issuer = _Issuer(signing.key, [base64.b64encode(leaf.public_bytes(Encoding.DER)).decode()])

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    backend = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": backend, "relativeurls": True},
        "auth": {"token": {"realm": f"https://{address}/token", "service": SERVICE,
                           "issuer": ISSUER, "rootcertbundle": str(directory / "token-ca.crt")}},
    }  # fmt: skip
    (directory / "config.yml").write_text(json.dumps(config))
    log = (directory / "registry.log").open("wb")
    process = subprocess.Popen(
        [binary, "serve", str(directory / "config.yml")], stdout=log, stderr=log
    )
    registry = GhcrLikeRegistry(address=address, ca_file=directory / "ca.crt", accounts=accounts)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(directory / "server.crt", directory / "server.key")
    try:
        wait_until_serving(backend, None)
        front = _Front(registry, issuer, f"http://{backend}", directory / "data")
        with _serve(front.app(), listener, tls):
            wait_until_serving(address, registry.ca_file)
            yield registry
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        listener.close()
