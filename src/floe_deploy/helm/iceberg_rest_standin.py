"""A protocol stand-in for Apache Polaris, the Iceberg REST catalog of the production values.

Polaris cannot run on the smoke's machine, yet the demo's Dagster run writes through pyiceberg's
RestCatalog. This server speaks the part of the Iceberg REST protocol that pyiceberg 0.12 uses,
over TLS, under Polaris's URI prefix (`base_path`, e.g. /api/catalog), and hands every catalog
operation to pyiceberg's own SqlCatalog (metadata pointers in SQL, metadata files through
pyiceberg's FileIO): requests and answers are pyiceberg's REST models, commits are
SqlCatalog.commit_table, so no Iceberg metadata is built here.

Served under `{base_path}/v1/`:

- `oauth/tokens`: OAuth2 client credentials (401 invalid_client, 400 invalid_scope); every other
  endpoint needs the opaque bearer token it hands out (401 otherwise)
- `config?warehouse=W`: 404 for a warehouse other than the configured one, else the prefix W and
  the endpoints below (so clients call nothing else)
- `{W}/namespaces`: list (with `parent`), create, load, exists (HEAD), drop
- `{W}/namespaces/{ns}/tables`: list, create, load, exists (HEAD), commit, drop

Multi-part namespaces are joined with the unit separator (0x1F) in paths, as the spec says.
Errors are the spec's ErrorModel with the types pyiceberg maps (404 NoSuchNamespaceException or
NoSuchTableException, 409 AlreadyExistsException, NamespaceNotEmptyException or
CommitFailedException).

Not served: staged creates (stage-create true), multi-table transactions, rename, register,
namespace property updates, views, credential vending, server-side scan planning, Polaris's
management API and its grants (the one client has every right). A dropped table's files stay.

Standard library, pyiceberg, pydantic and the SQL drivers only: it runs inside the runtime image
as a played pod, `python3 -m floe_deploy.helm.iceberg_rest_standin` with CATALOG_CONFIG naming a
JSON file of `StandinConfig`. One line per request goes to stderr (method, path, status).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import ssl
import sys
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel
from pyiceberg.catalog.rest import (
    Capability,
    CreateTableRequest,
    Endpoint,
    ListNamespaceResponse,
    ListTableResponseEntry,
    ListTablesResponse,
    NamespaceResponse,
    TableResponse,
)
from pyiceberg.catalog.rest.response import TokenResponse
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import CommitTableRequest
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.typedef import IcebergBaseModel, Identifier

NAMESPACE_SEPARATOR = "\x1f"


class StandinConfig(BaseModel):
    """The CATALOG_CONFIG file."""

    port: int
    host: str = "0.0.0.0"  # noqa: S104 (the pod network only)
    cert_file: str
    key_file: str
    base_path: str = ""
    """The URI path before /v1 (Polaris: /api/catalog)."""
    client_id: str
    client_secret: str
    scopes: list[str]
    """The scopes granted to the client (Polaris: PRINCIPAL_ROLE:ALL)."""
    warehouse: str
    """The catalog's name, which clients ask for as `warehouse` and get back as the prefix."""
    sql_uri: str
    """SqlCatalog's SQLAlchemy URI: postgresql+psycopg://… in the pod, sqlite in tests."""
    warehouse_location: str
    """Where new tables go, e.g. s3://bucket/warehouse."""
    file_io: dict[str, str] = {}
    """FileIO properties for writing metadata files (s3.endpoint, s3.access-key-id, …)."""


Answer = tuple[int, IcebergBaseModel | dict[str, Any] | None]
"""A status and what to send as JSON (None: no body)."""

ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NoSuchNamespaceError, 404, "NoSuchNamespaceException"),
    (NoSuchTableError, 404, "NoSuchTableException"),
    (NamespaceAlreadyExistsError, 409, "AlreadyExistsException"),
    (TableAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceNotEmptyError, 409, "NamespaceNotEmptyException"),
    (CommitFailedException, 409, "CommitFailedException"),
    (ValueError, 400, "BadRequestException"),
)
"""pyiceberg's exceptions as the REST spec's error types; ValueError covers bodies that do not
parse (pydantic's ValidationError is one)."""


def error(code: int, kind: str, message: str) -> Answer:
    return code, {"error": {"message": message, "type": kind, "code": code}}


def failed(failure: Exception) -> Answer:
    """The ErrorModel for an exception; one not expected is a 500, its traceback logged."""
    for kind_of, code, kind in ERRORS:
        if isinstance(failure, kind_of):
            return error(code, kind, str(failure))
    traceback.print_exception(failure)
    return error(500, type(failure).__name__, str(failure))


def namespace_of(segment: str) -> Identifier:
    return tuple(unquote(segment).split(NAMESPACE_SEPARATOR))


class CatalogOperations:
    """The REST operations on SqlCatalog; each takes the path's parameters, the query and the
    body, and answers."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def routes(self) -> dict[Endpoint, Callable[[dict[str, str], dict[str, str], bytes], Answer]]:
        return {
            Capability.V1_LIST_NAMESPACES: self.list_namespaces,
            Capability.V1_CREATE_NAMESPACE: self.create_namespace,
            Capability.V1_LOAD_NAMESPACE: self.load_namespace,
            Capability.V1_NAMESPACE_EXISTS: self.namespace_exists,
            Capability.V1_DELETE_NAMESPACE: self.drop_namespace,
            Capability.V1_LIST_TABLES: self.list_tables,
            Capability.V1_CREATE_TABLE: self.create_table,
            Capability.V1_LOAD_TABLE: self.load_table,
            Capability.V1_TABLE_EXISTS: self.table_exists,
            Capability.V1_UPDATE_TABLE: self.commit_table,
            Capability.V1_DELETE_TABLE: self.drop_table,
        }

    def list_namespaces(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        parent = namespace_of(query["parent"]) if query.get("parent") else ()
        return 200, ListNamespaceResponse(namespaces=self.catalog.list_namespaces(parent))

    def create_namespace(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        request = NamespaceResponse.model_validate_json(body)
        self.catalog.create_namespace(request.namespace, request.properties)
        return 200, request

    def load_namespace(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        namespace = namespace_of(path["namespace"])
        properties = self.catalog.load_namespace_properties(namespace)
        return 200, NamespaceResponse(namespace=namespace, properties=properties)

    def namespace_exists(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        return (
            204 if self.catalog.namespace_exists(namespace_of(path["namespace"])) else 404
        ), None

    def drop_namespace(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        self.catalog.drop_namespace(namespace_of(path["namespace"]))
        return 204, None

    def list_tables(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        found = self.catalog.list_tables(namespace_of(path["namespace"]))
        entries = [ListTableResponseEntry(namespace=t[:-1], name=t[-1]) for t in found]
        return 200, ListTablesResponse(identifiers=entries)

    def create_table(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        """pyiceberg's model requires the optional fields its own client leaves out when unset."""
        unset = {"location": None, "partition-spec": None, "write-order": None}
        request = CreateTableRequest.model_validate(unset | json.loads(body))
        if request.stage_create:
            return error(400, "BadRequestException", "stage-create is not served by this stand-in")
        table = self.catalog.create_table(
            (*namespace_of(path["namespace"]), request.name),
            schema=request.table_schema,
            location=request.location,
            partition_spec=request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
            sort_order=request.write_order or UNSORTED_SORT_ORDER,
            properties=request.properties,
        )
        return 200, TableResponse(
            metadata_location=table.metadata_location, metadata=table.metadata
        )

    def _identifier(self, path: dict[str, str]) -> Identifier:
        return (*namespace_of(path["namespace"]), unquote(path["table"]))

    def load_table(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        table = self.catalog.load_table(self._identifier(path))
        return 200, TableResponse(
            metadata_location=table.metadata_location, metadata=table.metadata
        )

    def table_exists(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        return (204 if self.catalog.table_exists(self._identifier(path)) else 404), None

    def commit_table(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        """The path names the table (the body's identifier is optional in the spec); SqlCatalog
        checks the requirements against the stored metadata and swaps the metadata pointer only
        if no other commit came first (CommitFailedException otherwise)."""
        identifier = self._identifier(path)
        request = CommitTableRequest.model_validate(
            json.loads(body)
            | {"identifier": {"namespace": list(identifier[:-1]), "name": identifier[-1]}}
        )
        table = self.catalog.load_table(identifier)
        return 200, self.catalog.commit_table(table, request.requirements, request.updates)

    def drop_table(self, path: dict[str, str], query: dict[str, str], body: bytes) -> Answer:
        self.catalog.drop_table(self._identifier(path))
        return 204, None


def _pattern(endpoint: Endpoint) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", endpoint.path) + "$")


class CatalogServer(ThreadingHTTPServer):
    """Each connection's TLS handshake runs in its own thread, so a stalled client holds up no
    other."""

    daemon_threads = True

    def __init__(self, config: StandinConfig) -> None:
        super().__init__((config.host, config.port), CatalogHandler)
        self.config = config
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(config.cert_file, config.key_file)
        self.tokens: set[str] = set()
        self.catalog = SqlCatalog(
            config.warehouse,
            uri=config.sql_uri,
            warehouse=config.warehouse_location,
            **config.file_io,
        )
        operations = CatalogOperations(self.catalog).routes()
        self.endpoints = [str(endpoint) for endpoint in operations]
        self.routes = [
            (endpoint.http_method.value, _pattern(endpoint), operation)
            for endpoint, operation in operations.items()
        ]

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        with self.tls.wrap_socket(request, server_side=True) as secure:
            CatalogHandler(secure, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        failure = sys.exc_info()[1]
        if isinstance(failure, ssl.SSLError | socket.timeout | ConnectionError):
            sys.stderr.write(f"iceberg-rest stand-in: {client_address[0]}: {failure}\n")
        else:
            super().handle_error(request, client_address)


class CatalogHandler(BaseHTTPRequestHandler):
    server: CatalogServer

    def _answer(self, answer: Answer) -> None:
        code, payload = answer
        if isinstance(payload, IcebergBaseModel):
            body = payload.model_dump_json().encode()
        else:
            body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _token(self, body: bytes) -> Answer:
        """RFC 6749 client credentials; errors in its own form, not the ErrorModel."""
        config = self.server.config
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "only client_credentials is served"}  # fmt: skip
        if not (
            secrets.compare_digest(form.get("client_id", ""), config.client_id)
            and secrets.compare_digest(form.get("client_secret", ""), config.client_secret)
        ):
            return 401, {"error": "invalid_client",
                         "error_description": "The client is not authorized"}  # fmt: skip
        requested = form.get("scope", "").split()
        if not requested or not set(requested) <= set(config.scopes):
            return 400, {"error": "invalid_scope",
                         "error_description": f"The scope {form.get('scope', '')} is not granted to this client"}  # fmt: skip
        token = secrets.token_urlsafe(32)
        self.server.tokens.add(token)
        return 200, TokenResponse(
            access_token=token, token_type="bearer", expires_in=3600,  # noqa: S106 (a type, not a secret)
            issued_token_type="urn:ietf:params:oauth:token-type:access_token",  # noqa: S106
            scope=" ".join(requested),
        )  # fmt: skip

    def _config(self, query: dict[str, str]) -> Answer:
        warehouse = query.get("warehouse", "")
        if warehouse != self.server.config.warehouse:
            return error(404, "NotFoundException", f"Unable to find warehouse {warehouse}")
        overrides = {"prefix": warehouse}
        return 200, {"defaults": {}, "overrides": overrides, "endpoints": self.server.endpoints}

    def _route(self, path: str, query: dict[str, str], body: bytes) -> Answer:
        if path == "/v1/oauth/tokens" and self.command == "POST":
            return self._token(body)
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if bearer not in self.server.tokens:
            return error(401, "NotAuthorizedException", "Not authorized: no valid bearer token")
        if path == "/v1/config" and self.command == "GET":
            return self._config(query)
        for method, pattern, operation in self.server.routes:
            if method == self.command and (found := pattern.match(path)):
                params = found.groupdict()
                if params.pop("prefix") != self.server.config.warehouse:
                    return error(404, "NotFoundException", "Unable to find the warehouse")
                return operation(params, query, body)
        return error(404, "NoSuchPathException", f"{self.command} {path} is not served")

    def _handle(self) -> None:
        """The body is read before anything is answered: closing a connection with unread bytes
        resets it, and the client may lose the answer."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        base = self.server.config.base_path.rstrip("/")
        if not url.path.startswith(f"{base}/v1/"):
            self._answer(error(404, "NoSuchPathException", f"{url.path} is not served"))
            return
        try:
            answer = self._route(url.path.removeprefix(base), query, body)
        except Exception as failure:
            answer = failed(failure)
        self._answer(answer)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sys.stderr.write(
            f"iceberg-rest stand-in: {self.command} {urlsplit(self.path).path} {code}\n"
        )

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"iceberg-rest stand-in: {format % args}\n")


def make_server(config: StandinConfig) -> CatalogServer:
    """The stand-in bound to config.host:config.port (port 0: a free one), not yet serving."""
    return CatalogServer(config)


def main() -> None:
    config = StandinConfig.model_validate_json(Path(os.environ["CATALOG_CONFIG"]).read_text())
    server = make_server(config)
    sys.stderr.write(
        f"iceberg-rest stand-in: serving warehouse {config.warehouse} at "
        f"https://{config.host}:{server.server_address[1]}{config.base_path}\n"
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
