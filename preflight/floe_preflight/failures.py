"""Every way a check can fail, with its message and remediation: one table, also rendered into
docs/06-deployment-view.md by `python -m floe_preflight.docs`, so the docs can't drift.

A kind is stable and machine-readable (`kind` in the JSON output); each has an anchor in the docs.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

DOCS_PAGE = "docs/06-deployment-view.md"


class Kind(StrEnum):
    CONNECTION_REFUSED = "connection_refused"
    DNS = "dns"
    TIMEOUT = "timeout"
    TLS = "tls"
    TLS_NOT_OFFERED = "tls_not_offered"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    FORBIDDEN_CONTENT = "forbidden_content"
    INVALID_SCOPE = "invalid_scope"
    NOT_A_CATALOG = "not_a_catalog"
    NOT_S3 = "not_s3"
    SERVER_ERROR = "server_error"
    BUCKET_MISSING = "bucket_missing"
    WAREHOUSE_UNKNOWN = "warehouse_unknown"
    DATABASE_MISSING = "database_missing"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a failure kind, not a password)
    HBA_REJECTED = "hba_rejected"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    POOLER_REJECTED = "pooler_rejected"
    CLOCK_SKEW = "clock_skew"
    WRONG_REGION = "wrong_region"
    PATH_STYLE = "path_style"
    READ_ONLY = "read_only"
    NO_CREATE_PRIVILEGE = "no_create_privilege"
    CATALOG_TABLES_MISSING = "catalog_tables_missing"
    QUERY_FAILED = "query_failed"
    CLIENT_MISSING = "client_missing"
    INVALID_SETTING = "invalid_setting"
    NOT_CONFIGURED = "not_configured"
    PREREQUISITE_FAILED = "prerequisite_failed"
    ENGINE_UNREACHABLE = "engine_unreachable"
    COMPOSE_MISSING = "compose_missing"
    LOW_MEMORY = "low_memory"
    LOW_DISK = "low_disk"
    UNEXPECTED = "unexpected"


REMEDIATIONS: dict[Kind, str] = {
    Kind.CONNECTION_REFUSED: "Check that {service} is running and that {setting} points at it.",
    Kind.DNS: "Check the host name in {setting} and that DNS resolves it from where preflight runs.",
    Kind.TIMEOUT: "Check firewalls and network policies between here and {endpoint}, or raise --timeout.",
    Kind.TLS: "Point {setting} at the CA that signed {endpoint}'s certificate, or fix that certificate.",
    Kind.TLS_NOT_OFFERED: "The server at {endpoint} does not offer TLS: enable ssl on it, or relax {setting}.",
    Kind.UNAUTHORIZED: "Verify {credentials}.",
    Kind.FORBIDDEN: "Grant {credentials} access to {resource}.",
    Kind.INVALID_SCOPE: "Request a scope the catalog grants this client ({setting}, e.g. PRINCIPAL_ROLE:ALL).",
    Kind.NOT_A_CATALOG: "Point {setting} at the catalog's base URL, the one that serves /v1/config (Polaris: https://<host>/api/catalog).",
    Kind.NOT_S3: "Point {setting} at the S3 API (MinIO: its API port, not the console).",
    Kind.SERVER_ERROR: "{service} reported an internal error: read its logs, then rerun.",
    Kind.BUCKET_MISSING: "Create bucket {resource} or fix FLOE_STORAGE__BUCKET.",
    Kind.WAREHOUSE_UNKNOWN: "Create warehouse {resource} in the catalog or fix FLOE_CATALOG__WAREHOUSE.",
    Kind.DATABASE_MISSING: "Create database {resource} or fix {setting}.",
    Kind.WRONG_PASSWORD: "Verify {credentials}.",
    Kind.HBA_REJECTED: "Add a pg_hba.conf rule on {endpoint} for {credentials} from this host (hostssl rules need sslmode=require or stricter in {setting}), then reload the server.",
    Kind.TOO_MANY_CONNECTIONS: "{endpoint} has no connection slot left: raise max_connections, put a pooler in front, or stop idle clients.",
    Kind.POOLER_REJECTED: "The pooler at {endpoint} refused a startup parameter: allow it (PgBouncer: ignore_startup_parameters) or connect to the server directly.",
    Kind.CLOCK_SKEW: "Synchronise this machine's clock (NTP): S3 refuses signatures more than 15 minutes off.",
    Kind.WRONG_REGION: "Set {setting} to {resource}, the bucket's region.",
    Kind.PATH_STYLE: "Set {setting}=true: the virtual-host name {resource} does not resolve, the endpoint's own host does.",
    Kind.READ_ONLY: "Point {setting} at the primary, or clear default_transaction_read_only for {resource}.",
    Kind.NO_CREATE_PRIVILEGE: "GRANT CREATE ON {resource} TO {credentials} (PostgreSQL 15 no longer grants CREATE on public to everyone), or let that user own the database.",
    Kind.CATALOG_TABLES_MISSING: "The SQL catalog creates its tables on the first write: run the pipeline once, or check FLOE_CATALOG__URI.",
    Kind.QUERY_FAILED: "Check that {credentials} may run queries on {endpoint}.",
    Kind.CLIENT_MISSING: "Install the client: pip install 'floe-preflight[{resource}]'.",
    Kind.INVALID_SETTING: "Fix {setting}.",
    Kind.NOT_CONFIGURED: "Set {setting} to check {service}.",
    Kind.PREREQUISITE_FAILED: "Fix {resource} first.",
    Kind.ENGINE_UNREACHABLE: "Start Docker (`invoke platform.up`, or the docker service) or fix FLOE_PLATFORM__DOCKER_SOCKET.",
    Kind.COMPOSE_MISSING: "Install the docker compose v2 plugin (`scripts/bootstrap`).",
    Kind.LOW_MEMORY: "Free memory or lower the demo's footprint; {resource} needed.",
    Kind.LOW_DISK: "Free disk space (`docker image prune`); {resource} needed.",
    Kind.UNEXPECTED: "Read the message: {service} answered in a way preflight does not recognise.",
    Kind.FORBIDDEN_CONTENT: "Grant {credentials}'s principal role a catalog role with CATALOG_MANAGE_CONTENT on {resource}.",
}


def docs_anchor(kind: Kind) -> str:
    """Where the docs explain a kind: an anchor in the generated reference of docs/06 §7."""
    return f"{DOCS_PAGE}#preflight-{kind.value.replace('_', '-')}"


@dataclass
class CheckFailure(Exception):
    """A classified failure: the kind picks the remediation, the fields fill it in.

    `setting` is what to change (an environment variable or file key), `endpoint` what was probed.
    """

    kind: Kind
    message: str
    service: str = ""
    setting: str = ""
    endpoint: str = ""
    credentials: str = ""
    resource: str = ""

    def remediation(self) -> str:
        return REMEDIATIONS[self.kind].format(
            service=self.service or "the service", setting=self.setting, endpoint=self.endpoint,
            credentials=self.credentials, resource=self.resource,
        )  # fmt: skip


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: chained exceptions, and the `error`/`reason` attributes
    and exception arguments that botocore, urllib3 and requests wrap the socket error in."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped += [getattr(current, "kwargs", {}).get("error"), *current.args]
        pending += [item for item in wrapped if isinstance(item, BaseException)]


NETWORK_KINDS: tuple[tuple[type[BaseException], Kind], ...] = (
    (ssl.SSLError, Kind.TLS),
    (ssl.CertificateError, Kind.TLS),
    (socket.gaierror, Kind.DNS),
    (ConnectionRefusedError, Kind.CONNECTION_REFUSED),
    (TimeoutError, Kind.TIMEOUT),
)


def network_kind(error: BaseException) -> Kind | None:
    """Which network failure an exception describes, from the types of what it wraps (an
    ssl.SSLError, a socket.gaierror, a refused or timed-out socket), never from its text."""
    for cause in causes(error):
        for error_type, kind in NETWORK_KINDS:
            if isinstance(cause, error_type):
                return kind
        if type(cause).__name__ in {"NameResolutionError"}:
            return Kind.DNS
        if type(cause).__name__ in {
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectTimeout",
            "ReadTimeout",
        }:
            return Kind.TIMEOUT
    return None
