"""Local HTTP servers that speak the real protocols of services that can't run here.

Polaris (Iceberg REST: `/v1/oauth/tokens`, `/v1/config`, per the Iceberg REST OpenAPI spec) and
Trino (`/v1/statement` with nextUri polling) are not installable on these machines; the preflight
tests and benchmarks probe these instead. Also: a socket that accepts and never answers, and a
server that answers every request with an HTML page.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from floe_deploy.tls import ServerTls


class JsonHandler(BaseHTTPRequestHandler):
    """Quiet handler with JSON replies; the fakes below (and the tests' own) build on it."""

    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class IcebergRestHandler(JsonHandler):
    """OAuth2 client-credentials token endpoint and the catalog config endpoint."""

    def do_POST(self) -> None:
        if self.path != "/v1/oauth/tokens":
            self.reply(404, {"error": {"message": "not found", "type": "NoSuchPath", "code": 404}})
            return
        form = {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
        catalog = self.server.catalog
        if form.get("grant_type") != "client_credentials" or (
            form.get("client_id"),
            form.get("client_secret"),
        ) != (
            catalog["client_id"],
            catalog["client_secret"],
        ):
            self.reply(
                401,
                {"error": "invalid_client", "error_description": "The client is not authorized"},
            )
            return
        if form.get("scope") not in catalog["scopes"]:
            self.reply(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": f"The scope {form.get('scope')} is not granted to this client",
                },
            )
            return
        self.reply(
            200,
            {
                "access_token": catalog["token"],
                "token_type": "bearer",
                "expires_in": 3600,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
        )

    def do_GET(self) -> None:
        url = urlparse(self.path)
        catalog = self.server.catalog
        parts = url.path.split("/")
        if len(parts) == 4 and parts[1] == "v1" and parts[3] == "namespaces":
            self._namespaces(parts[2])
            return
        if url.path != "/v1/config":
            self.reply(404, {"error": {"message": "not found", "type": "NoSuchPath", "code": 404}})
            return
        if self.headers.get("Authorization") != f"Bearer {catalog['token']}":
            self.reply(
                401,
                {
                    "error": {
                        "message": "Not authorized",
                        "type": "NotAuthorizedException",
                        "code": 401,
                    }
                },
            )
            return
        warehouse = parse_qs(url.query).get("warehouse", [""])[0]
        if warehouse in catalog["forbidden"]:
            self.reply(
                403,
                {
                    "error": {
                        "message": f"Principal may not access {warehouse}",
                        "type": "ForbiddenException",
                        "code": 403,
                    }
                },
            )
            return
        if warehouse not in catalog["warehouses"]:
            self.reply(
                404,
                {
                    "error": {
                        "message": f"Unable to find warehouse {warehouse}",
                        "type": "NotFoundException",
                        "code": 404,
                    }
                },
            )
            return
        self.reply(200, {"defaults": {}, "overrides": {"prefix": warehouse}})

    def _namespaces(self, warehouse: str) -> None:
        """Listing namespaces needs catalog content rights (Polaris: NAMESPACE_LIST)."""
        if warehouse in self.server.catalog["no_content"]:
            self.reply(403, {"error": {
                "message": f"Principal 'floe' with activated PrincipalRoles '[]' and activated grants via "
                f"'[catalog_admin]' is not authorized for op LIST_NAMESPACES on [{warehouse}]",
                "type": "ForbiddenException", "code": 403,
            }})  # fmt: skip
            return
        self.reply(200, {"namespaces": []})


class TrinoHandler(JsonHandler):
    """POST /v1/statement, then GET nextUri until FINISHED (or FAILED), as Trino answers."""

    def _authorized(self) -> bool:
        """Trino's password authenticator: HTTP Basic, 401 with a WWW-Authenticate challenge."""
        expected = self.server.password
        if expected is None:
            return True
        user = self.headers.get("X-Trino-User", "")
        wanted = "Basic " + base64.b64encode(f"{user}:{expected}".encode()).decode()
        if self.headers.get("Authorization") == wanted:
            return True
        body = b"Unauthorized"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="Trino"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def do_POST(self) -> None:
        sql = self.body().decode().strip()
        if not self._authorized():
            return
        query_id = secrets.token_hex(4)
        self.server.queries[query_id] = sql
        host = self.headers.get("Host")
        self.reply(200, {
            "id": query_id, "infoUri": f"{self.server.scheme}://{host}/ui/query.html?{query_id}",
            "nextUri": f"{self.server.scheme}://{host}/v1/statement/executing/{query_id}/1",
            "stats": {"state": "QUEUED"},
        })  # fmt: skip

    def do_GET(self) -> None:
        if not self._authorized():
            return
        query_id = self.path.split("/")[-2]
        sql = self.server.queries.get(query_id, "")
        info = f"{self.server.scheme}://{self.headers.get('Host')}/ui/query.html?{query_id}"
        if self.server.failure or sql.upper() != "SELECT 1":
            self.reply(200, {"id": query_id, "infoUri": info, "stats": {"state": "FAILED"}, "error": {
                "message": self.server.failure or f"line 1:1: mismatched input '{sql[:10]}'", "errorCode": 4,
                "errorName": "PERMISSION_DENIED", "errorType": "USER_ERROR",
            }})  # fmt: skip
            return
        self.reply(200, {
            "id": query_id, "infoUri": info, "stats": {"state": "FINISHED"},
            "columns": [{"name": "_col0", "type": "integer", "typeSignature": {"rawType": "integer", "arguments": []}}],
            "data": [[1]],
        })  # fmt: skip


def _self_signed(directory: Path) -> ssl.SSLContext:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _signed_by(tls: ServerTls) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert.write_text(tls.cert)
        key.write_text(tls.key)
        context.load_cert_chain(cert, key)
    return context


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler],
    tls_dir: Path | None = None,
    tls: ServerTls | None = None,
    **state: Any,
) -> Iterator[str]:
    """Run a handler on 127.0.0.1:<free port>; yields the base URL (https with a self-signed
    cert in `tls_dir`, or with `tls`, a certificate signed by a test CA)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for key, value in state.items():
        setattr(server, key, value)
    scheme = "http"
    context = _self_signed(tls_dir) if tls_dir is not None else _signed_by(tls) if tls else None
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    server.scheme = scheme  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def iceberg_rest(
    client_id: str,
    client_secret: str,
    warehouses: set[str],
    *,
    forbidden: Collection[str] = (),
    tls_dir: Path | None = None,
    scopes: Collection[str] = ("PRINCIPAL_ROLE:ALL",),
    no_content: Collection[str] = (),
) -> Iterator[str]:
    """Polaris's token, config and namespace-list endpoints at the root of the URL; `scopes` are
    those granted; the principal may read the config but not the contents of `no_content`."""
    catalog = {"client_id": client_id, "client_secret": client_secret, "token": secrets.token_hex(16),
               "warehouses": warehouses, "forbidden": forbidden, "scopes": scopes,
               "no_content": no_content}  # fmt: skip
    with serve(IcebergRestHandler, tls_dir, catalog=catalog) as url:
        yield url


@contextmanager
def trino(
    failure: str = "", *, password: str | None = None, tls: ServerTls | None = None
) -> Iterator[str]:
    """A Trino coordinator's statement protocol; with `failure`, every query fails with it;
    with `password`, every request needs it (HTTP Basic, which Trino takes over HTTPS only)."""
    with serve(TrinoHandler, tls=tls, queries={}, failure=failure, password=password) as url:
        yield url


class HtmlPageHandler(BaseHTTPRequestHandler):
    """What a URL that is not the catalog often answers: an HTML page (a UI, a login form)."""

    def log_message(self, *args: object) -> None:
        pass

    def _page(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page


@contextmanager
def html_page() -> Iterator[str]:
    with serve(HtmlPageHandler) as url:
        yield url


@contextmanager
def silent_socket() -> Iterator[int]:
    """A port that accepts connections and never answers (for timeout tests)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            end.close()


def _bounce(client: socket.socket, upstream: tuple[str, int]) -> None:
    """PgBouncer's startup: no TLS offered ('N'), and a parameter it does not track refused with
    its documented `FATAL 08P01 unsupported startup parameter: …`; the rest piped to Postgres."""
    try:
        while True:
            length, code = struct.unpack("!ii", _read_exactly(client, 8))
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                break
            client.sendall(b"N")
        rest = _read_exactly(client, length - 8)
    except (ConnectionError, OSError):
        client.close()
        return
    pairs = rest.rstrip(b"\0").split(b"\0")
    names = {pairs[i].decode() for i in range(0, len(pairs), 2)}
    refused = sorted(
        names - {"user", "database", "application_name", "client_encoding", "DateStyle", "TimeZone"}
    )
    if refused:
        fields = (
            f"SFATAL\0VFATAL\0C08P01\0Munsupported startup parameter: {refused[0]}\0\0"
        ).encode()
        client.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        client.close()
        return
    server = socket.create_connection(upstream)
    server.sendall(struct.pack("!ii", length, code) + rest)
    threading.Thread(target=_pipe, args=(server, client), daemon=True).start()
    _pipe(client, server)


@contextmanager
def _serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback listener whose every connection `handle` takes in a thread of its own: its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client = listener.accept()[0]
            except OSError:
                continue
            client.settimeout(None)
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextmanager
def pgbouncer(upstream_host: str, upstream_port: int) -> Iterator[int]:
    """A connection pooler's front door in PgBouncer's manner (not installable here): its port."""
    with _serving(lambda client: _bounce(client, (upstream_host, upstream_port))) as port:
        yield port


@contextmanager
def tls_proxy(upstream_host: str, upstream_port: int, tls: ServerTls) -> Iterator[int]:
    """A TLS-terminating proxy (an ingress, a load balancer) in front of a plain server: its port."""
    context = _signed_by(tls)

    def serve_one(raw: socket.socket) -> None:
        try:
            client = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        server = socket.create_connection((upstream_host, upstream_port))
        threading.Thread(target=_pipe, args=(server, client), daemon=True).start()
        _pipe(client, server)

    with _serving(serve_one) as port:
        yield port
