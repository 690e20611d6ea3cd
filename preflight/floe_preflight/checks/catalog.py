"""The catalog check: Iceberg REST (Polaris) through OAuth2 client credentials and its config
endpoint, or the SQL catalog's tables in Postgres."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from floe_preflight.checks.shared import (
    PostgresTarget,
    network_failure,
    postgres_connection,
    prove_create,
    prove_database_create,
)
from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.config import PreflightSettings
from floe_preflight.failures import CheckFailure, Kind
from floe_preflight.model import Status

CATALOG_CREDENTIALS = (
    "POLARIS_CLIENT_ID and POLARIS_CLIENT_SECRET (or FLOE_CATALOG__CLIENT_ID / __CLIENT_SECRET)"
)


def catalog_endpoint(settings: PreflightSettings) -> str:
    catalog = settings.catalog
    if catalog.type == "rest":
        return (catalog.uri or "").rstrip("/")
    return _sql_catalog_target(settings)[1] if catalog.uri else ""


def check_catalog(probe: Probe) -> Outcome:
    if probe.settings.catalog.type == "rest":
        return _rest_catalog(probe)
    return _sql_catalog(probe)


def _json_or_none(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _not_json(response: httpx.Response, what: str, uri: str) -> CheckFailure:
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return CheckFailure(
        Kind.NOT_A_CATALOG,
        f"{what} answered {response.status_code} with {kind}, not an Iceberg REST answer",
        setting="FLOE_CATALOG__URI", endpoint=uri, service="the catalog",
    )  # fmt: skip


def _server_error(response: httpx.Response, what: str, uri: str) -> CheckFailure:
    """Any 5xx is the server's own failure, whatever its body (often an HTML error page)."""
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return CheckFailure(
        Kind.SERVER_ERROR, f"{what} answered {response.status_code} ({kind}): a server error",
        endpoint=uri, service="the catalog",
    )  # fmt: skip


def _problem(response: httpx.Response, token: str) -> str:
    """The Iceberg REST error model's `error.message`, the access token masked out of it."""
    body = _json_or_none(response)
    problem = body.get("error") if isinstance(body, dict) else None
    said = str(problem.get("message", "")) if isinstance(problem, dict) else ""
    return said.replace(token, "***") if token else said


def _oauth_failure(response: httpx.Response, uri: str, client_id: str, scope: str) -> CheckFailure:
    """RFC 6749 §5.2: the token endpoint's `error` and `error_description` say what is wrong."""
    if response.status_code >= 500:
        return _server_error(response, f"the token endpoint {uri}/v1/oauth/tokens", uri)
    answer = _json_or_none(response)
    if not isinstance(answer, dict) or response.status_code == 404:
        return _not_json(response, f"POST {uri}/v1/oauth/tokens", uri)
    error = str(answer.get("error", "")) if not isinstance(answer.get("error"), dict) else ""
    described = f"{error}: {answer.get('error_description') or 'no description'}" if error else ""
    said = described or f"no OAuth2 error field; keys {', '.join(sorted(map(str, answer)))}"
    common: dict[str, str] = {"endpoint": uri, "service": "the catalog"}
    if error == "invalid_scope":
        return CheckFailure(
            Kind.INVALID_SCOPE, f"the catalog refused scope {scope} ({response.status_code} {said})",
            setting="FLOE_CATALOG__SCOPE", **common,
        )  # fmt: skip
    if error in {"invalid_client", "unauthorized_client"} or response.status_code == 401:
        return CheckFailure(
            Kind.UNAUTHORIZED,
            f"OAuth2 client authentication failed for client {client_id} ({response.status_code} {said})",
            credentials=CATALOG_CREDENTIALS, setting="POLARIS_CLIENT_SECRET", **common,
        )  # fmt: skip
    if response.status_code == 403:
        return CheckFailure(
            Kind.FORBIDDEN, f"OAuth2 token request forbidden (403 {said})",
            credentials=f"client {client_id}", resource=f"scope {scope}", setting="FLOE_CATALOG__SCOPE", **common,
        )  # fmt: skip
    return CheckFailure(
        Kind.UNEXPECTED, f"the token endpoint answered {response.status_code} ({said})", **common
    )


def _rest_catalog(probe: Probe) -> Outcome:
    """Iceberg REST (Polaris): OAuth2 client credentials, GET /v1/config?warehouse=…, then the
    warehouse's namespaces, as the workload's catalog client does."""
    catalog = probe.settings.catalog
    uri = catalog_endpoint(probe.settings)
    client_id = catalog.client_id or ""
    verify: str | bool = catalog.ca_file or catalog.verify_tls
    with httpx.Client(timeout=probe.timeout, verify=verify) as client:
        probe.start()
        try:
            token = client.post(
                f"{uri}/v1/oauth/tokens",
                data={
                    "grant_type": "client_credentials", "client_id": client_id,
                    "client_secret": catalog.client_secret.get_secret_value() if catalog.client_secret else "",
                    "scope": catalog.scope,
                },
            )  # fmt: skip
            if token.status_code != 200:
                raise _oauth_failure(token, uri, client_id, catalog.scope)
            answer = _json_or_none(token)
            if not isinstance(answer, dict) or "access_token" not in answer:
                raise _not_json(token, f"POST {uri}/v1/oauth/tokens", uri)
            access_token = str(answer["access_token"])
            headers = {"Authorization": f"Bearer {access_token}"}
            config = client.get(
                f"{uri}/v1/config", params={"warehouse": catalog.warehouse or ""}, headers=headers
            )
            _check_config(config, catalog.warehouse or "", client_id, uri, access_token)
            body = _json_or_none(config)
            overrides = body.get("overrides", {}) if isinstance(body, dict) else {}
            defaults = body.get("defaults", {}) if isinstance(body, dict) else {}
            prefix = (overrides or {}).get("prefix") or (defaults or {}).get("prefix") or ""
            listing = client.get(
                f"{uri}/v1/{prefix}/namespaces" if prefix else f"{uri}/v1/namespaces",
                headers=headers,
            )
        except httpx.HTTPError as error:
            raise network_failure(
                error, service="the catalog", setting="FLOE_CATALOG__URI", endpoint=uri,
                timeout=probe.timeout, ca_setting="FLOE_CATALOG__CA_FILE",
            ) from None  # fmt: skip
    _check_content(listing, catalog.warehouse or "", client_id, uri, access_token)
    return (
        Status.OK,
        f"token obtained, config returned and namespaces listed for warehouse {catalog.warehouse}",
    )


def _check_config(
    config: httpx.Response, warehouse: str, client_id: str, uri: str, token: str
) -> None:
    common: dict[str, str] = {"endpoint": uri, "service": "the catalog"}
    status = config.status_code
    if status >= 500:
        raise _server_error(config, f"GET {uri}/v1/config", uri)
    if _json_or_none(config) is None:
        raise _not_json(config, f"GET {uri}/v1/config", uri)
    said = _problem(config, token)
    if status == 404 or (status == 400 and "warehouse" in said.lower()):
        raise CheckFailure(
            Kind.WAREHOUSE_UNKNOWN, f"warehouse {warehouse} is unknown to the catalog ({status} {said})",
            resource=warehouse, setting="FLOE_CATALOG__WAREHOUSE", **common,
        )  # fmt: skip
    if status == 403:
        raise CheckFailure(
            Kind.FORBIDDEN, f"catalog config for warehouse {warehouse} forbidden (403 {said})",
            credentials=f"client {client_id}", resource=f"warehouse {warehouse}",
            setting="FLOE_CATALOG__WAREHOUSE", **common,
        )  # fmt: skip
    if status == 401:
        raise CheckFailure(
            Kind.UNAUTHORIZED, f"the catalog rejected its own token (401 {said})",
            credentials=CATALOG_CREDENTIALS, setting="POLARIS_CLIENT_SECRET", **common,
        )  # fmt: skip
    if status != 200:
        raise CheckFailure(Kind.UNEXPECTED, f"GET /v1/config answered {status} ({said})", **common)


def _check_content(
    listing: httpx.Response, warehouse: str, client_id: str, uri: str, token: str
) -> None:
    """Listing the warehouse's namespaces needs the catalog content rights the workload uses
    (CATALOG_MANAGE_CONTENT on Polaris); a principal with none gets its config all the same."""
    status = listing.status_code
    if status == 200:
        return
    if status >= 500:
        raise _server_error(listing, f"GET {uri}/v1/…/namespaces", uri)
    said = _problem(listing, token)
    if status == 403:
        raise CheckFailure(
            Kind.FORBIDDEN_CONTENT,
            f"client {client_id} may read warehouse {warehouse}'s config but not its contents "
            f"(listing namespaces: 403 {said})",
            credentials=f"client {client_id}", resource=f"catalog {warehouse}",
            setting="POLARIS_CLIENT_ID", endpoint=uri, service="the catalog",
        )  # fmt: skip
    raise CheckFailure(
        Kind.UNEXPECTED, f"listing namespaces answered {status} ({said})", endpoint=uri,
        service="the catalog",
    )  # fmt: skip


def _sql_catalog_target(settings: PreflightSettings) -> tuple[str, str]:
    """The catalog URI as libpq reads it (no SQLAlchemy driver, no password) and its endpoint.

    pyiceberg's SqlCatalog takes SQLAlchemy URLs (postgresql+psycopg://…); libpq takes postgresql://.
    """
    uri = settings.catalog.uri or ""
    parts = urlsplit(uri)
    if parts.scheme.split("+")[0] not in {"postgresql", "postgres"}:
        raise CheckFailure(
            Kind.INVALID_SETTING,
            f"FLOE_CATALOG__URI is not a PostgreSQL URI (scheme {parts.scheme or 'missing'}); "
            "the SQL catalog check reads postgresql://user@host:port/database",
            setting="FLOE_CATALOG__URI",
        )
    host_port = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{parts.username}@{host_port}" if parts.username else host_port
    try:
        port = parts.port or 5432
    except ValueError:
        raise CheckFailure(
            Kind.INVALID_SETTING, "FLOE_CATALOG__URI has a port that is not a number",
            setting="FLOE_CATALOG__URI",
        ) from None  # fmt: skip
    conninfo = urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    endpoint = f"{host}:{port}/{parts.path.lstrip('/') or parts.username or ''}"
    return conninfo, endpoint


def _sql_catalog(probe: Probe) -> Outcome:
    """SQL catalog (metadata in Postgres): connect with the URI's own credentials and find the
    catalog's tables; when they are missing, prove the user may create them."""
    settings = probe.settings
    conninfo, endpoint = _sql_catalog_target(settings)
    parts = urlsplit(conninfo)
    password, password_setting = settings.catalog_password()
    target = PostgresTarget(
        service="the catalog's Postgres", endpoint=endpoint, user=parts.username or "(libpq default)",
        database=parts.path.lstrip("/") or parts.username or "", password_setting=password_setting,
        host_setting="FLOE_CATALOG__URI", database_setting="FLOE_CATALOG__URI",
        sslmode_setting="sslmode in FLOE_CATALOG__URI", ca_setting="sslrootcert in FLOE_CATALOG__URI",
    )  # fmt: skip
    with postgres_connection(probe, target, conninfo=conninfo, password=password) as connection:
        found = connection.execute("SELECT to_regclass('iceberg_tables') IS NOT NULL").fetchone()
        if not found or not found[0]:
            prove_create(connection, target)
            prove_database_create(connection, target)
            raise CheckFailure(
                Kind.CATALOG_TABLES_MISSING,
                f"the SQL catalog's tables (iceberg_tables) do not exist yet in {endpoint}; "
                f"user {target.user} may create them",
                endpoint=endpoint,
                setting="FLOE_CATALOG__URI",
            )
        count = connection.execute("SELECT count(*) FROM iceberg_tables").fetchone()
    return (
        Status.OK,
        f"catalog tables present in {endpoint} ({count[0] if count else 0} Iceberg tables registered)",
    )


def _missing(settings: PreflightSettings) -> str | None:
    catalog = settings.catalog
    if catalog.type == "rest":
        for value, name in (
            (catalog.uri, "FLOE_CATALOG__URI"),
            (catalog.warehouse, "FLOE_CATALOG__WAREHOUSE"),
            (catalog.client_id, "POLARIS_CLIENT_ID"),
        ):
            if not value:
                return name
        return None
    return None if catalog.uri else "FLOE_CATALOG__URI"


SPEC = CheckSpec(
    name="catalog",
    run=check_catalog,
    type_of=lambda settings: settings.catalog.type,
    endpoint=catalog_endpoint,
    endpoint_setting="FLOE_CATALOG__URI",
    missing_setting=_missing,
    prerequisites=lambda settings: ("storage",) if settings.catalog.type == "rest" else (),
    types="rest (Polaris / Iceberg REST), sql (Postgres)",
    probe=(
        "rest: OAuth2 client credentials at `/v1/oauth/tokens`, `GET /v1/config?warehouse=…`, then "
        "list the warehouse's namespaces (its content rights); "
        "sql: connect with the URI's credentials, CREATE on the database, find `iceberg_tables` "
        "(missing: a warning once CREATE is proven)"
    ),
    needs=(
        "rest: FLOE_CATALOG__URI, FLOE_CATALOG__WAREHOUSE, POLARIS_CLIENT_ID/SECRET; "
        "sql: FLOE_CATALOG__URI"
    ),
    after="storage (rest catalogs)",
)
