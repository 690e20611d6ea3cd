"""The probes. Each returns (status, message) or raises CheckFailure naming what to fix.

Every client gets the check's timeout, so a host that accepts and never answers costs at most
the timeout (the runner also stops waiting then).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from floe_preflight.config import PreflightSettings
from floe_preflight.failures import CheckFailure, Kind, network_kind
from floe_preflight.model import Status

Outcome = tuple[Status, str]
GIB = 1024**3


def _network_failure(
    error: BaseException, *, service: str, setting: str, endpoint: str, timeout: float
) -> CheckFailure:
    kind = network_kind(error) or Kind.UNEXPECTED
    messages = {
        Kind.CONNECTION_REFUSED: f"{endpoint} refused the connection",
        Kind.DNS: f"cannot resolve the host of {endpoint}",
        Kind.TIMEOUT: f"no answer from {endpoint} within {timeout:g} s",
        Kind.TLS: f"TLS handshake with {endpoint} failed",
        Kind.UNEXPECTED: f"{endpoint}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
    }
    return CheckFailure(
        kind,
        messages.get(kind, messages[Kind.UNEXPECTED]),
        service=service,
        setting=setting,
        endpoint=endpoint,
    )


# compute -----------------------------------------------------------------------------------


def check_compute(settings: PreflightSettings) -> Outcome:
    compute = settings.compute
    probes: dict[str, Callable[[PreflightSettings], Outcome]] = {
        "duckdb": _duckdb,
        "trino": _trino,
        "snowflake": _snowflake,
        "bigquery": _bigquery,
    }
    return probes[compute.type](settings)


def _duckdb(settings: PreflightSettings) -> Outcome:
    import duckdb  # noqa: PLC0415

    row = duckdb.connect().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} (DuckDB {duckdb.__version__}, in process)",
    )


def _trino(settings: PreflightSettings) -> Outcome:
    import trino  # noqa: PLC0415

    compute = settings.compute
    if not compute.host:
        raise CheckFailure(
            Kind.NOT_CONFIGURED,
            "compute.host is not set",
            service="Trino",
            setting="FLOE_COMPUTE__HOST",
        )
    port = compute.port or (443 if compute.http_scheme == "https" else 8080)
    endpoint = f"{compute.http_scheme}://{compute.host}:{port}"
    try:
        connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
            host=compute.host, port=port, user=compute.user, catalog=compute.catalog,
            http_scheme=compute.http_scheme, request_timeout=settings.timeout, max_attempts=1,
        )  # fmt: skip
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        rows = cursor.fetchall()
    except trino.exceptions.TrinoQueryError as error:
        raise CheckFailure(
            Kind.QUERY_FAILED, f"SELECT 1 failed on {endpoint}: {error.error_name}: {error.message}",
            endpoint=endpoint, credentials=f"user {compute.user}",
        ) from None  # fmt: skip
    except trino.exceptions.HttpError as error:
        if "401" in str(error) or "403" in str(error):
            raise CheckFailure(
                Kind.UNAUTHORIZED, f"{endpoint} rejected user {compute.user} ({str(error).strip()[:80]})",
                credentials="FLOE_COMPUTE__USER and FLOE_COMPUTE__PASSWORD",
            ) from None  # fmt: skip
        raise _network_failure(
            error,
            service="Trino",
            setting="FLOE_COMPUTE__HOST",
            endpoint=endpoint,
            timeout=settings.timeout,
        ) from None
    except Exception as error:  # the client wraps socket errors in several types
        raise _network_failure(
            error,
            service="Trino",
            setting="FLOE_COMPUTE__HOST",
            endpoint=endpoint,
            timeout=settings.timeout,
        ) from None
    return Status.OK, f"SELECT 1 returned {rows[0][0]} on {endpoint}"


def _snowflake(settings: PreflightSettings) -> Outcome:
    try:
        import snowflake.connector  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the Snowflake client is not installed", resource="snowflake"
        ) from None
    compute = settings.compute
    connection = snowflake.connector.connect(
        account=compute.account, user=compute.user,
        password=compute.password.get_secret_value() if compute.password else None,
        login_timeout=math.ceil(settings.timeout), network_timeout=math.ceil(settings.timeout),
    )  # fmt: skip
    row = connection.cursor().execute("SELECT 1").fetchone()
    return (
        Status.OK,
        f"SELECT 1 returned {row[0] if row else None} on Snowflake account {compute.account}",
    )


def _bigquery(settings: PreflightSettings) -> Outcome:
    try:
        from google.cloud import bigquery  # noqa: PLC0415
    except ImportError:
        raise CheckFailure(
            Kind.CLIENT_MISSING, "the BigQuery client is not installed", resource="bigquery"
        ) from None
    client = bigquery.Client(project=settings.compute.project)
    rows = list(client.query("SELECT 1").result(timeout=settings.timeout))
    return Status.OK, f"SELECT 1 returned {rows[0][0]} in project {settings.compute.project}"


# storage -----------------------------------------------------------------------------------


def check_storage(settings: PreflightSettings, write_probe: bool = False) -> Outcome:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    storage = settings.storage
    endpoint = storage.endpoint or f"s3.{storage.region}.amazonaws.com"
    client = boto3.client(
        "s3",
        endpoint_url=storage.endpoint,
        aws_access_key_id=storage.access_key_id,
        aws_secret_access_key=storage.secret_access_key.get_secret_value() if storage.secret_access_key else None,
        region_name=storage.region,
        config=Config(
            connect_timeout=settings.timeout, read_timeout=settings.timeout, retries={"max_attempts": 1},
            s3={"addressing_style": "path" if storage.path_style else "virtual"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        ),
    )  # fmt: skip
    credentials = "FLOE_STORAGE__ACCESS_KEY_ID / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    bucket = storage.bucket or ""
    try:
        client.head_bucket(Bucket=bucket)
        if write_probe:
            key = f"{storage.warehouse_prefix.strip('/')}/.floe-preflight/{uuid.uuid4().hex}"
            client.put_object(Bucket=bucket, Key=key, Body=b"floe-preflight")
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            client.delete_object(Bucket=bucket, Key=key)
            if body != b"floe-preflight":
                raise CheckFailure(
                    Kind.UNEXPECTED,
                    f"read back {len(body)} bytes that differ from what was written",
                )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in {"404", "NoSuchBucket"} or status == 404:
            raise CheckFailure(
                Kind.BUCKET_MISSING,
                f"bucket {bucket} does not exist at {endpoint}",
                resource=bucket,
            ) from None
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "401"} or status == 401:
            raise CheckFailure(
                Kind.UNAUTHORIZED,
                f"{endpoint} rejected the storage credentials ({code})",
                credentials=credentials,
            ) from None
        if code in {"403", "AccessDenied"} or status == 403:
            raise CheckFailure(
                Kind.FORBIDDEN,
                f"access to bucket {bucket} denied (403)",
                credentials="the storage credentials",
                resource=f"bucket {bucket}",
            ) from None
        raise CheckFailure(Kind.UNEXPECTED, f"{endpoint} answered {code or status}") from None
    except BotoCoreError as error:
        raise _network_failure(
            error,
            service="the storage endpoint",
            setting="FLOE_STORAGE__ENDPOINT",
            endpoint=endpoint,
            timeout=settings.timeout,
        ) from None
    written = " and writable (put/get/delete under the warehouse prefix)" if write_probe else ""
    return Status.OK, f"bucket {bucket} reachable at {endpoint}{written}"


# catalog -----------------------------------------------------------------------------------


def check_catalog(settings: PreflightSettings) -> Outcome:
    return _rest_catalog(settings) if settings.catalog.type == "rest" else _sql_catalog(settings)


def _rest_catalog(settings: PreflightSettings) -> Outcome:
    """Iceberg REST (Polaris): OAuth2 client credentials, then GET /v1/config?warehouse=…"""
    catalog = settings.catalog
    uri = (catalog.uri or "").rstrip("/")
    credentials = "POLARIS_CLIENT_ID and POLARIS_CLIENT_SECRET environment variables"
    try:
        with httpx.Client(timeout=settings.timeout, verify=catalog.verify_tls) as client:
            token = client.post(
                f"{uri}/v1/oauth/tokens",
                data={
                    "grant_type": "client_credentials",
                    "client_id": catalog.client_id or "",
                    "client_secret": catalog.client_secret.get_secret_value()
                    if catalog.client_secret
                    else "",
                    "scope": catalog.scope,
                },
            )
            if token.status_code in {400, 401}:
                raise CheckFailure(
                    Kind.UNAUTHORIZED,
                    f"OAuth2 authentication failed ({token.status_code} Unauthorized)",
                    credentials=credentials,
                )
            if token.status_code == 403:
                raise CheckFailure(
                    Kind.FORBIDDEN,
                    "OAuth2 token request forbidden (403)",
                    credentials=f"client {catalog.client_id}",
                    resource=f"scope {catalog.scope}",
                )
            token.raise_for_status()
            access = token.json().get("access_token")
            config = client.get(
                f"{uri}/v1/config",
                params={"warehouse": catalog.warehouse or ""},
                headers={"Authorization": f"Bearer {access}"},
            )
    except httpx.HTTPStatusError as error:
        raise CheckFailure(
            Kind.UNEXPECTED, f"{uri} answered {error.response.status_code}"
        ) from None
    except httpx.HTTPError as error:
        raise _network_failure(
            error,
            service="the catalog",
            setting="FLOE_CATALOG__URI",
            endpoint=uri,
            timeout=settings.timeout,
        ) from None
    if config.status_code == 404 or (
        config.status_code == 400 and "warehouse" in config.text.lower()
    ):
        raise CheckFailure(
            Kind.WAREHOUSE_UNKNOWN,
            f"warehouse {catalog.warehouse} is unknown to the catalog ({config.status_code})",
            resource=str(catalog.warehouse),
        )
    if config.status_code == 403:
        raise CheckFailure(
            Kind.FORBIDDEN,
            f"catalog config for warehouse {catalog.warehouse} forbidden (403)",
            credentials=f"client {catalog.client_id}",
            resource=f"warehouse {catalog.warehouse}",
        )
    if config.status_code == 401:
        raise CheckFailure(
            Kind.UNAUTHORIZED,
            "the catalog rejected the token (401 Unauthorized)",
            credentials=credentials,
        )
    if config.status_code != 200:
        raise CheckFailure(Kind.UNEXPECTED, f"GET /v1/config answered {config.status_code}")
    return Status.OK, f"token obtained and config returned for warehouse {catalog.warehouse}"


def _sql_catalog(settings: PreflightSettings) -> Outcome:
    """SQL catalog (metadata in Postgres): connect and find the catalog's tables."""
    with _postgres_connection(settings, dsn=settings.catalog.uri) as connection:
        found = connection.execute("SELECT to_regclass('iceberg_tables') IS NOT NULL").fetchone()
        if not found or not found[0]:
            raise CheckFailure(
                Kind.CATALOG_TABLES_MISSING,
                "the SQL catalog's tables (iceberg_tables) do not exist yet",
            )
        count = connection.execute("SELECT count(*) FROM iceberg_tables").fetchone()
    return (
        Status.OK,
        f"catalog tables present ({count[0] if count else 0} Iceberg tables registered)",
    )


# postgres ----------------------------------------------------------------------------------


def _postgres_connection(settings: PreflightSettings, dsn: str | None = None) -> Any:
    import psycopg  # noqa: PLC0415

    pg = settings.postgres
    endpoint = f"{pg.host}:{pg.port}/{pg.database}"
    password = pg.password.get_secret_value() if pg.password else None
    try:
        if dsn:
            return psycopg.connect(
                dsn, password=password, connect_timeout=max(1, math.ceil(settings.timeout))
            )
        return psycopg.connect(
            host=pg.host, port=pg.port, dbname=pg.database, user=pg.user, password=password,
            sslmode=pg.sslmode, connect_timeout=max(1, math.ceil(settings.timeout)),
        )  # fmt: skip
    except psycopg.OperationalError as error:
        text = str(error)
        if "password authentication failed" in text or "no password supplied" in text:
            raise CheckFailure(
                Kind.WRONG_PASSWORD,
                f"password authentication failed for user {pg.user}",
                credentials="POSTGRES_PASSWORD (or FLOE_POSTGRES__PASSWORD) and FLOE_POSTGRES__USER",
            ) from None
        if "does not exist" in text and "database" in text:
            raise CheckFailure(
                Kind.DATABASE_MISSING,
                f"database {pg.database} does not exist on {pg.host}:{pg.port}",
                resource=pg.database,
            ) from None
        raise _network_failure(
            error,
            service="Postgres",
            setting="FLOE_POSTGRES__HOST and FLOE_POSTGRES__PORT",
            endpoint=endpoint,
            timeout=settings.timeout,
        ) from None


def check_postgres(settings: PreflightSettings) -> Outcome:
    """Connect, read the server version, and prove the database is writable with a temp table."""
    import psycopg  # noqa: PLC0415

    with _postgres_connection(settings) as connection:
        version = connection.execute("SHOW server_version").fetchone()
        try:
            connection.execute("CREATE TEMP TABLE floe_preflight_probe (id int)")
        except psycopg.errors.ReadOnlySqlTransaction:
            raise CheckFailure(
                Kind.READ_ONLY,
                f"database {settings.postgres.database} is read-only",
                resource=settings.postgres.database,
            ) from None
    return Status.OK, f"connected to PostgreSQL {version[0] if version else '?'}, writable"


# platform ----------------------------------------------------------------------------------


def check_platform(settings: PreflightSettings) -> Outcome:
    """What `demo.up` needs here: a reachable Docker engine, compose v2, memory and disk."""
    platform = settings.platform
    socket = platform.docker_socket
    try:
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=socket), timeout=settings.timeout
        ) as client:
            version = client.get("http://docker/version").json()
    except (httpx.HTTPError, OSError, ValueError):
        raise CheckFailure(
            Kind.ENGINE_UNREACHABLE, f"the Docker engine does not answer on {socket}"
        ) from None
    docker = shutil.which("docker")
    compose = (
        subprocess.run(
            [docker, "compose", "version", "--short"],
            capture_output=True,
            text=True,
            check=False,
            timeout=settings.timeout,
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
            resource=f"{platform.min_memory_gb} GB",
        )
    disk = shutil.disk_usage(Path.cwd()).free / GIB
    if disk < platform.min_disk_gb:
        raise CheckFailure(
            Kind.LOW_DISK,
            f"{disk:.1f} GB free disk, below {platform.min_disk_gb} GB",
            resource=f"{platform.min_disk_gb} GB",
        )
    return Status.OK, (
        f"Docker {version.get('Version')} (API {version.get('ApiVersion')}), compose {compose.stdout.strip()}, "
        f"{memory:.1f} GB memory, {disk:.1f} GB disk free"
    )


def _available_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GIB
    return 0.0
