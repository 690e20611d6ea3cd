"""Every way a check can fail, with its message and remediation: one table, also rendered into
docs/06-deployment-view.md by `python -m floe_preflight.docs`, so the docs can't drift.

A kind is stable and machine-readable (`kind` in the JSON output); each has an anchor in the docs.
"""

from __future__ import annotations

import re
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
    INVALID_SCOPE = "invalid_scope"
    NOT_A_CATALOG = "not_a_catalog"
    SERVER_ERROR = "server_error"
    BUCKET_MISSING = "bucket_missing"
    WAREHOUSE_UNKNOWN = "warehouse_unknown"
    DATABASE_MISSING = "database_missing"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a failure kind, not a password)
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
    Kind.TLS: "Trust the server's CA (SSL_CERT_FILE / REQUESTS_CA_BUNDLE) or fix its certificate for {endpoint}.",
    Kind.TLS_NOT_OFFERED: "The server at {endpoint} does not offer TLS: enable ssl on it, or relax {setting}.",
    Kind.UNAUTHORIZED: "Verify {credentials}.",
    Kind.FORBIDDEN: "Grant {credentials} access to {resource}.",
    Kind.INVALID_SCOPE: "Request a scope the catalog grants this client ({setting}, e.g. PRINCIPAL_ROLE:ALL).",
    Kind.NOT_A_CATALOG: "Point {setting} at the catalog's base URL, the one that serves /v1/config (Polaris: https://<host>/api/catalog).",
    Kind.SERVER_ERROR: "{service} reported an internal error: read its logs, then rerun.",
    Kind.BUCKET_MISSING: "Create bucket {resource} or fix FLOE_STORAGE__BUCKET.",
    Kind.WAREHOUSE_UNKNOWN: "Create warehouse {resource} in the catalog or fix FLOE_CATALOG__WAREHOUSE.",
    Kind.DATABASE_MISSING: "Create database {resource} or fix {setting}.",
    Kind.WRONG_PASSWORD: "Verify {credentials}.",
    Kind.READ_ONLY: "Point {setting} at the primary, or clear default_transaction_read_only for {resource}.",
    Kind.NO_CREATE_PRIVILEGE: "GRANT CREATE ON SCHEMA {resource} TO {credentials} (PostgreSQL 15 no longer grants it to everyone), or let that user own the database.",
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


PATTERNS: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.TLS_NOT_OFFERED, re.compile(r"server does not support SSL", re.IGNORECASE)),
    (Kind.TLS, re.compile(r"SSL|CERTIFICATE|certificate verify|TLS", re.IGNORECASE)),
    (
        Kind.DNS,
        re.compile(
            r"Name or service not known|could not translate host name|name resolution|nodename nor servname|No address associated|getaddrinfo",
            re.IGNORECASE,
        ),
    ),
    (Kind.CONNECTION_REFUSED, re.compile(r"refused", re.IGNORECASE)),
    (Kind.TIMEOUT, re.compile(r"timed? ?out|timeout", re.IGNORECASE)),
]


def network_kind(error: BaseException) -> Kind | None:
    """Which network failure an exception from any client library describes, if any."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__ or error.__context__
    if cause is not None:
        text += f" {type(cause).__name__}: {cause}"
    for kind, pattern in PATTERNS:
        if pattern.search(text):
            return kind
    return None
