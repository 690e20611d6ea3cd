"""The probes. Each returns (status, message) or raises CheckFailure naming what to fix.

A probe first loads its client library and builds its client, then calls `probe.start()`: the
check's timeout covers only what follows, talking to the service. Every client gets that
timeout, so a host that accepts and never answers costs at most the timeout (the runner also
stops waiting then).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from floe_preflight.config import PreflightSettings, StorageSettings
from floe_preflight.failures import CheckFailure, Kind, network_kind
from floe_preflight.model import Status

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

Outcome = tuple[Status, str]
GIB = 1024**3


@dataclass
class Probe:
    """What a check gets: the settings, its own timeout, and the clock it starts once its client
    is ready (importing boto3 takes seconds on a small machine; that is not the service's time)."""

    settings: PreflightSettings
    timeout: float
    write_probe: bool = False
    start: Callable[[], None] = lambda: None


def _network_failure(
    error: BaseException, *, service: str, setting: str, endpoint: str, timeout: float
) -> CheckFailure:
    kind = network_kind(error) or Kind.UNEXPECTED
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    messages = {
        Kind.CONNECTION_REFUSED: f"{endpoint} refused the connection",
        Kind.DNS: f"cannot resolve the host of {endpoint}",
        Kind.TIMEOUT: f"no answer from {endpoint} within {timeout:g} s",
        Kind.TLS: f"TLS handshake with {endpoint} failed ({first_line[:120]})",
        Kind.TLS_NOT_OFFERED: f"{endpoint} does not offer TLS, which the settings require",
        Kind.UNEXPECTED: f"{endpoint}: {type(error).__name__}: {first_line}",
    }
    return CheckFailure(
        kind,
        messages.get(kind, messages[Kind.UNEXPECTED]),
        service=service,
        setting=setting,
        endpoint=endpoint,
    )


# compute -----------------------------------------------------------------------------------


def compute_endpoint(settings: PreflightSettings) -> str:
    compute = settings.compute
    if compute.type == "trino":
        port = compute.port or (443 if compute.http_scheme == "https" else 8080)
        return f"{compute.http_scheme}://{compute.host}:{port}"
    if compute.type == "snowflake":
        return f"Snowflake account {compute.account}"
    if compute.type == "bigquery":
        return f"BigQuery project {compute.project}"
    return "DuckDB in process"


def check_compute(probe: Probe) -> Outcome:
    probes: dict[str, Callable[[Probe], Outcome]] = {
        "duckdb": _duckdb,
        "trino": _trino,
        "snowflake": _snowflake,
        "bigquery": _bigquery,
    }
    return probes[probe.settings.compute.type](probe)


def _duckdb(probe: Probe) -> Outcome:
    import duckdb  # noqa: PLC0415

    probe.start()
    row = duckdb.connect().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} (DuckDB {duckdb.__version__}, in process)",
    )


def _trino(probe: Probe) -> Outcome:
    import trino  # noqa: PLC0415

    compute = probe.settings.compute
    endpoint = compute_endpoint(probe.settings)
    connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=compute.host, port=urlsplit(endpoint).port, user=compute.user, catalog=compute.catalog,
        http_scheme=compute.http_scheme, request_timeout=probe.timeout, max_attempts=1,
    )  # fmt: skip
    probe.start()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        rows = cursor.fetchall()
    except trino.exceptions.TrinoQueryError as error:
        raise CheckFailure(
            Kind.QUERY_FAILED, f"SELECT 1 failed on {endpoint}: {error.error_name}: {error.message}",
            endpoint=endpoint, credentials=f"user {compute.user}", setting="FLOE_COMPUTE__USER",
        ) from None  # fmt: skip
    except trino.exceptions.HttpError as error:
        if "401" in str(error) or "403" in str(error):
            raise CheckFailure(
                Kind.UNAUTHORIZED, f"{endpoint} rejected user {compute.user} ({str(error).strip()[:80]})",
                credentials="FLOE_COMPUTE__USER and FLOE_COMPUTE__PASSWORD", setting="FLOE_COMPUTE__USER",
                endpoint=endpoint,
            ) from None  # fmt: skip
        raise _network_failure(
            error, service="Trino", setting="FLOE_COMPUTE__HOST", endpoint=endpoint, timeout=probe.timeout
        ) from None  # fmt: skip
    except Exception as error:  # the client wraps socket errors in several types
        raise _network_failure(
            error, service="Trino", setting="FLOE_COMPUTE__HOST", endpoint=endpoint, timeout=probe.timeout
        ) from None  # fmt: skip
    return Status.OK, f"SELECT 1 returned {rows[0][0]} on {endpoint}"


def _snowflake(probe: Probe) -> Outcome:
    try:
        import snowflake.connector  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the Snowflake client is not installed", resource="snowflake"
        ) from None
    compute = probe.settings.compute
    probe.start()
    connection = snowflake.connector.connect(
        account=compute.account, user=compute.user,
        password=compute.password.get_secret_value() if compute.password else None,
        login_timeout=math.ceil(probe.timeout), network_timeout=math.ceil(probe.timeout),
    )  # fmt: skip
    row = connection.cursor().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} on Snowflake account {compute.account}",
    )


def _bigquery(probe: Probe) -> Outcome:
    try:
        from google.cloud import bigquery  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the BigQuery client is not installed", resource="bigquery"
        ) from None
    client = bigquery.Client(project=probe.settings.compute.project)
    probe.start()
    rows = list(client.query("SELECT 1").result(timeout=probe.timeout))
    return Status.OK, f"SELECT 1 returned {rows[0][0]} in project {probe.settings.compute.project}"


# storage -----------------------------------------------------------------------------------

S3_KEY_ID = "FLOE_STORAGE__ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)"
S3_SECRET = "FLOE_STORAGE__SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)"  # noqa: S105 (setting names)
S3_TOKEN = "FLOE_STORAGE__SESSION_TOKEN (or AWS_SESSION_TOKEN)"  # noqa: S105 (setting names)


def storage_endpoint(settings: PreflightSettings) -> str:
    storage = settings.storage
    return storage.endpoint or f"https://s3.{storage.region}.amazonaws.com"


def _s3_credentials(storage: StorageSettings) -> dict[str, str]:
    """Explicit keys (with their session token) when set; else boto3's own chain (profile, IRSA)."""
    if not storage.access_key_id:
        return {}
    given = {
        "aws_access_key_id": storage.access_key_id,
        "aws_secret_access_key": storage.secret_access_key,
        "aws_session_token": storage.session_token,
    }
    return {
        name: value if isinstance(value, str) else value.get_secret_value()
        for name, value in given.items()
        if value
    }


def check_storage(probe: Probe) -> Outcome:
    """List one key under the warehouse prefix (the answer carries the S3 error code, which a
    HEAD does not); with --write-probe, put, get and delete one object there."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    storage = probe.settings.storage
    endpoint = storage_endpoint(probe.settings)
    client = boto3.client(
        "s3", endpoint_url=storage.endpoint, region_name=storage.region, **_s3_credentials(storage),
        config=Config(
            connect_timeout=probe.timeout, read_timeout=probe.timeout, retries={"max_attempts": 1},
            s3={"addressing_style": "path" if storage.path_style else "virtual"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        ),
    )  # fmt: skip
    bucket = storage.bucket or ""
    prefix = storage.warehouse_prefix.strip("/")
    action = f"list bucket {bucket}"
    probe.start()
    try:
        # ListObjects (v1): every S3-compatible server answers it; s3rver (the hermetic demo
        # image) fails ListObjectsV2 with a 500 once a page is truncated.
        client.list_objects(Bucket=bucket, Prefix=f"{prefix}/", MaxKeys=1)
        if probe.write_probe:
            key = f"{prefix}/.floe-preflight/{uuid.uuid4().hex}"
            action = f"write {key} in bucket {bucket}"
            client.put_object(Bucket=bucket, Key=key, Body=b"floe-preflight")
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            client.delete_object(Bucket=bucket, Key=key)
            if body != b"floe-preflight":
                raise CheckFailure(
                    Kind.UNEXPECTED,
                    f"read back {len(body)} bytes that differ from what was written",
                    service="the storage endpoint", endpoint=endpoint,
                )  # fmt: skip
    except ClientError as error:
        raise _storage_failure(error, endpoint, bucket, storage, action) from None
    except NoCredentialsError:
        raise CheckFailure(
            Kind.UNAUTHORIZED, "no storage credentials: no access key is set and boto3 found none",
            credentials=f"{S3_KEY_ID} and {S3_SECRET}", setting="FLOE_STORAGE__ACCESS_KEY_ID",
            endpoint=endpoint,
        ) from None  # fmt: skip
    except BotoCoreError as error:
        raise _network_failure(
            error, service="the storage endpoint", setting="FLOE_STORAGE__ENDPOINT",
            endpoint=endpoint, timeout=probe.timeout,
        ) from None  # fmt: skip
    written = (
        " and writable (put/get/delete under the warehouse prefix)" if probe.write_probe else ""
    )
    return Status.OK, f"bucket {bucket} reachable at {endpoint}{written}"


def _storage_failure(  # noqa: PLR0911 (one return per family of S3 error codes)
    error: ClientError, endpoint: str, bucket: str, storage: StorageSettings, action: str
) -> CheckFailure:
    """S3's error code says which credential is wrong: the key id, the secret or the token."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    said = str(details.get("Message", "")).strip()
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    answer = f"{code}: {said}" if said else code or str(status)
    common: dict[str, str] = {"endpoint": endpoint, "service": "the storage endpoint"}
    if code in {"NoSuchBucket", "404"} or status == 404:
        return CheckFailure(
            Kind.BUCKET_MISSING, f"bucket {bucket} does not exist at {endpoint}", resource=bucket,
            setting="FLOE_STORAGE__BUCKET", **common,
        )  # fmt: skip
    if code == "InvalidAccessKeyId":
        return CheckFailure(
            Kind.UNAUTHORIZED, f"{endpoint} does not know access key {storage.access_key_id} ({code})",
            credentials=S3_KEY_ID, setting="FLOE_STORAGE__ACCESS_KEY_ID", **common,
        )  # fmt: skip
    if code == "SignatureDoesNotMatch":
        return CheckFailure(
            Kind.UNAUTHORIZED,
            f"{endpoint} rejected the request signature: the secret key does not belong to access key "
            f"{storage.access_key_id} ({code})",
            credentials=S3_SECRET, setting="FLOE_STORAGE__SECRET_ACCESS_KEY", **common,
        )  # fmt: skip
    if code in {"InvalidToken", "ExpiredToken", "TokenRefreshRequired", "InvalidClientTokenId"}:
        return CheckFailure(
            Kind.UNAUTHORIZED, f"{endpoint} rejected the session token ({answer})",
            credentials=f"{S3_TOKEN} (temporary credentials expire; fetch new ones)",
            setting="FLOE_STORAGE__SESSION_TOKEN", **common,
        )  # fmt: skip
    if code in {"AccessDenied", "AllAccessDisabled", "403"} or status == 403:
        return CheckFailure(
            Kind.FORBIDDEN, f"access key {storage.access_key_id} may not {action} ({answer})",
            credentials=f"access key {storage.access_key_id}", resource=f"bucket {bucket}",
            setting="FLOE_STORAGE__ACCESS_KEY_ID", **common,
        )  # fmt: skip
    if status >= 500:
        return CheckFailure(Kind.SERVER_ERROR, f"{endpoint} answered {status} ({answer})", **common)
    return CheckFailure(Kind.UNEXPECTED, f"{endpoint} answered {status} ({answer})", **common)


# catalog -----------------------------------------------------------------------------------

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


def _oauth_failure(response: httpx.Response, uri: str, client_id: str, scope: str) -> CheckFailure:
    """RFC 6749 §5.2: the token endpoint's `error` and `error_description` say what is wrong."""
    answer = _json_or_none(response)
    if not isinstance(answer, dict) or response.status_code == 404:
        return _not_json(response, f"POST {uri}/v1/oauth/tokens", uri)
    error = str(answer.get("error", "")) if not isinstance(answer.get("error"), dict) else ""
    described = f"{error}: {answer.get('error_description') or 'no description'}" if error else ""
    said = described or str(answer)[:200]
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
    if response.status_code >= 500:
        return CheckFailure(
            Kind.SERVER_ERROR,
            f"the token endpoint answered {response.status_code} ({said})",
            **common,
        )
    return CheckFailure(
        Kind.UNEXPECTED, f"the token endpoint answered {response.status_code} ({said})", **common
    )


def _rest_catalog(probe: Probe) -> Outcome:
    """Iceberg REST (Polaris): OAuth2 client credentials, then GET /v1/config?warehouse=…"""
    catalog = probe.settings.catalog
    uri = catalog_endpoint(probe.settings)
    client_id = catalog.client_id or ""
    common: dict[str, str] = {"endpoint": uri, "service": "the catalog"}
    with httpx.Client(timeout=probe.timeout, verify=catalog.verify_tls) as client:
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
            config = client.get(
                f"{uri}/v1/config",
                params={"warehouse": catalog.warehouse or ""},
                headers={"Authorization": f"Bearer {answer['access_token']}"},
            )
        except httpx.HTTPError as error:
            raise _network_failure(
                error, service="the catalog", setting="FLOE_CATALOG__URI", endpoint=uri,
                timeout=probe.timeout,
            ) from None  # fmt: skip
    body = _json_or_none(config)
    if body is None:
        raise _not_json(config, f"GET {uri}/v1/config", uri)
    problem = body.get("error") if isinstance(body, dict) else None
    said = str(problem.get("message", "")) if isinstance(problem, dict) else ""
    status = config.status_code
    if status == 404 or (status == 400 and "warehouse" in said.lower()):
        raise CheckFailure(
            Kind.WAREHOUSE_UNKNOWN, f"warehouse {catalog.warehouse} is unknown to the catalog ({status} {said})",
            resource=str(catalog.warehouse), setting="FLOE_CATALOG__WAREHOUSE", **common,
        )  # fmt: skip
    if status == 403:
        raise CheckFailure(
            Kind.FORBIDDEN, f"catalog config for warehouse {catalog.warehouse} forbidden (403 {said})",
            credentials=f"client {client_id}", resource=f"warehouse {catalog.warehouse}",
            setting="FLOE_CATALOG__WAREHOUSE", **common,
        )  # fmt: skip
    if status == 401:
        raise CheckFailure(
            Kind.UNAUTHORIZED, f"the catalog rejected its own token (401 {said})",
            credentials=CATALOG_CREDENTIALS, setting="POLARIS_CLIENT_SECRET", **common,
        )  # fmt: skip
    if status >= 500:
        raise CheckFailure(
            Kind.SERVER_ERROR, f"GET /v1/config answered {status} ({said})", **common
        )
    if status != 200:
        raise CheckFailure(Kind.UNEXPECTED, f"GET /v1/config answered {status} ({said})", **common)
    return Status.OK, f"token obtained and config returned for warehouse {catalog.warehouse}"


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
    endpoint = (
        f"{parts.hostname or 'localhost'}:{port}/{parts.path.lstrip('/') or parts.username or ''}"
    )
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
        sslmode_setting="sslmode in FLOE_CATALOG__URI",
    )  # fmt: skip
    with _postgres_connection(probe, target, conninfo=conninfo, password=password) as connection:
        found = connection.execute("SELECT to_regclass('iceberg_tables') IS NOT NULL").fetchone()
        if not found or not found[0]:
            _prove_create(connection, target)
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


# postgres ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresTarget:
    """Which database a connection is for, and which settings name each of its parts."""

    service: str
    endpoint: str
    user: str
    database: str
    password_setting: str
    host_setting: str
    database_setting: str
    sslmode_setting: str


def postgres_endpoint(settings: PreflightSettings) -> str:
    pg = settings.postgres
    return f"{pg.host}:{pg.port}/{pg.database}"


def _postgres_connection(
    probe: Probe, target: PostgresTarget, *, password: str | None, **connect: Any
) -> Any:
    import psycopg  # noqa: PLC0415

    timeout_ms = max(1, round(probe.timeout * 1000))
    probe.start()
    try:
        return psycopg.connect(
            **connect, password=password, connect_timeout=max(2, math.ceil(probe.timeout)),
            options=f"-c statement_timeout={timeout_ms}",
        )  # fmt: skip
    except psycopg.OperationalError as error:
        raise _postgres_failure(error, probe, target) from None
    except psycopg.Error as error:
        raise CheckFailure(
            Kind.INVALID_SETTING, f"{target.host_setting} is not a valid connection string: {str(error).strip()}",
            setting=target.host_setting, endpoint=target.endpoint, service=target.service,
        ) from None  # fmt: skip


def _postgres_failure(error: Exception, probe: Probe, target: PostgresTarget) -> CheckFailure:
    text = str(error)
    common: dict[str, str] = {"endpoint": target.endpoint, "service": target.service}
    if "password authentication failed" in text or "no password supplied" in text:
        source = (
            "the password in FLOE_CATALOG__URI"
            if target.password_setting == target.host_setting
            else target.password_setting
        )
        return CheckFailure(
            Kind.WRONG_PASSWORD,
            f"password authentication failed for user {target.user} on {target.endpoint} (password from {source})",
            credentials=f"{source} and the user {target.user}", setting=target.password_setting, **common,
        )  # fmt: skip
    if "does not exist" in text and "database" in text:
        return CheckFailure(
            Kind.DATABASE_MISSING, f"database {target.database} does not exist on {target.endpoint.split('/')[0]}",
            resource=target.database, setting=target.database_setting, **common,
        )  # fmt: skip
    if "does not exist" in text and "role" in text:
        return CheckFailure(
            Kind.UNAUTHORIZED, f"user {target.user} does not exist on {target.endpoint.split('/')[0]}",
            credentials=f"the user in {target.host_setting}", setting=target.host_setting, **common,
        )  # fmt: skip
    return _network_failure(
        error, service=target.service, setting=target.sslmode_setting
        if network_kind(error) is Kind.TLS_NOT_OFFERED else target.host_setting,
        endpoint=target.endpoint, timeout=probe.timeout,
    )  # fmt: skip


def _prove_create(connection: Any, target: PostgresTarget) -> str:
    """Create a table in the first schema of the search path and roll it back: what Dagster's
    migrations (and the SQL catalog's first write) do. A temporary table would pass without
    CREATE on the schema, which PostgreSQL 15 no longer grants to every user on `public`."""
    import psycopg  # noqa: PLC0415

    schema_row = connection.execute("SELECT current_schema()").fetchone()
    schema = schema_row[0] if schema_row else None
    common: dict[str, str] = {"endpoint": target.endpoint, "service": target.service}
    if schema is None:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE, f"no schema of user {target.user}'s search_path exists in {target.database}",
            credentials=target.user, resource="public", setting=target.database_setting, **common,
        )  # fmt: skip
    try:
        connection.execute(f"CREATE TABLE floe_preflight_probe_{uuid.uuid4().hex[:12]} (id int)")
    except psycopg.errors.InsufficientPrivilege:
        raise CheckFailure(
            Kind.NO_CREATE_PRIVILEGE,
            f"user {target.user} may not create tables in schema {schema} of database {target.database}",
            credentials=target.user, resource=schema, setting=target.database_setting, **common,
        ) from None  # fmt: skip
    except psycopg.errors.ReadOnlySqlTransaction:
        raise CheckFailure(
            Kind.READ_ONLY, f"database {target.database} is read-only",
            resource=target.database, setting=target.host_setting, **common,
        ) from None  # fmt: skip
    finally:
        connection.rollback()
    return str(schema)


def check_postgres(probe: Probe) -> Outcome:
    """Connect, read the server version, and prove tables can be created (then roll back)."""
    pg = probe.settings.postgres
    target = PostgresTarget(
        service="Postgres", endpoint=postgres_endpoint(probe.settings), user=pg.user, database=pg.database,
        password_setting="POSTGRES_PASSWORD",  # noqa: S106
        host_setting="FLOE_POSTGRES__HOST", database_setting="FLOE_POSTGRES__DATABASE",
        sslmode_setting="FLOE_POSTGRES__SSLMODE",
    )  # fmt: skip
    password = pg.password.get_secret_value() if pg.password else None
    with _postgres_connection(
        probe, target, password=password, host=pg.host, port=pg.port, dbname=pg.database,
        user=pg.user, sslmode=pg.sslmode,
    ) as connection:  # fmt: skip
        version = connection.execute("SHOW server_version").fetchone()
        schema = _prove_create(connection, target)
    return (
        Status.OK,
        f"connected to PostgreSQL {version[0] if version else '?'}; user {pg.user} may create "
        f"tables in schema {schema}",
    )


# platform ----------------------------------------------------------------------------------


def check_platform(probe: Probe) -> Outcome:
    """What `demo.up` needs here: a reachable Docker engine, compose v2, memory and disk."""
    platform = probe.settings.platform
    socket = platform.docker_socket
    probe.start()
    try:
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=socket), timeout=probe.timeout
        ) as client:
            version = client.get("http://docker/version").json()
    except (httpx.HTTPError, OSError, ValueError):
        raise CheckFailure(
            Kind.ENGINE_UNREACHABLE, f"the Docker engine does not answer on {socket}",
            endpoint=socket, setting="FLOE_PLATFORM__DOCKER_SOCKET",
        ) from None  # fmt: skip
    docker = shutil.which("docker")
    compose = (
        subprocess.run(
            [docker, "compose", "version", "--short"],
            capture_output=True,
            text=True,
            check=False,
            timeout=probe.timeout,
        )
        if docker
        else None
    )
    if compose is None or compose.returncode != 0:
        raise CheckFailure(Kind.COMPOSE_MISSING, "docker compose v2 is not installed")
    memory = _available_memory_gb()
    if memory < platform.min_memory_gb:
        raise CheckFailure(
            Kind.LOW_MEMORY,
            f"{memory:.1f} GB memory available, below {platform.min_memory_gb} GB",
            resource=f"{platform.min_memory_gb} GB", setting="FLOE_PLATFORM__MIN_MEMORY_GB",
        )  # fmt: skip
    disk = shutil.disk_usage(Path.cwd()).free / GIB
    if disk < platform.min_disk_gb:
        raise CheckFailure(
            Kind.LOW_DISK,
            f"{disk:.1f} GB free disk, below {platform.min_disk_gb} GB",
            resource=f"{platform.min_disk_gb} GB", setting="FLOE_PLATFORM__MIN_DISK_GB",
        )  # fmt: skip
    return Status.OK, (
        f"Docker {version.get('Version')} (API {version.get('ApiVersion')}), compose {compose.stdout.strip()}, "
        f"{memory:.1f} GB memory, {disk:.1f} GB disk free"
    )


def _available_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0
