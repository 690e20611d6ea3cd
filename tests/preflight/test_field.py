"""Preflight in the field (issue #30): failures an operator hits, each named from structured data,
with the right exit code, the cause and the fix, no configured secret and no traceback, in the
table, lines and JSON modes.

Real servers where one runs here: PostgreSQL 15 clusters (TLS with a test CA, pg_hba rules, a low
max_connections, a streaming standby). Stand-ins, each case marked so: moto's S3 server with IAM
authentication on (also behind a TLS proxy); a PgBouncer-style front door that refuses startup
parameters as PgBouncer does and pipes the rest to the real cluster; and, where nothing can run
here (Polaris, Trino, AWS's own S3 answers such as clock skew or a wrong region), local HTTP
servers replaying the real server's documented error body.
`OLD_CODE_WRONG` records the cases the code before this change got wrong, by class.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from floe_deploy.testing import PostgresEndpoint
from floe_deploy.testing.local_services import (
    SigningS3,
    postgres_cluster,
    postgres_standby,
    signing_s3,
)
from floe_deploy.testing.protocol_servers import (
    IcebergRestHandler,
    JsonHandler,
    html_page,
    iceberg_rest,
    pgbouncer,
    serve,
    tls_proxy,
    trino,
)
from floe_deploy.tls import server_tls
from tests.preflight.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    MODES,
    SECRET_MARK,
    pg_env,
    preflight,
    rest_env,
    secret,
)


class AwsErrorHandler(JsonHandler):
    """Replays AWS S3's documented error responses (S3 API reference, "Error responses"): the
    path's first segment picks one."""

    ANSWERS: ClassVar[dict[str, tuple[int, str, dict[str, str]]]] = {
        "skewed": (403, "RequestTimeTooSkewed", {}),
        "elsewhere": (301, "PermanentRedirect", {"x-amz-bucket-region": "eu-west-1"}),
        "broken": (503, "SlowDown", {}),
    }

    def do_GET(self) -> None:
        status, code, headers = self.ANSWERS[self.path.strip("/").split("/")[0].split("?")[0]]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{code} [as AWS words it]</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class EchoingCatalogHandler(IcebergRestHandler):
    """A gateway in front of the catalog that rejects the token and repeats it in its error body."""

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self.reply(
            401,
            {
                "error": {
                    "message": f"Token {token} is not valid here",
                    "type": "NotAuthorizedException",
                    "code": 401,
                }
            },
        )


class DownHandler(JsonHandler):
    """A token endpoint behind a proxy whose upstream is down: 503 with the proxy's HTML page."""

    def do_POST(self) -> None:
        self.body()
        page = b"<html><body><h1>503 Service Temporarily Unavailable</h1><hr>nginx</body></html>"
        self.send_response(503)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


@dataclass
class Field:
    """Every server the corpus runs against, started once."""

    tmp: Path
    postgres: PostgresEndpoint
    tls_postgres: PostgresEndpoint
    full_postgres: PostgresEndpoint
    standby: PostgresEndpoint
    ca_file: str
    s3: SigningS3
    aws: str
    rest: str
    rest_down: str
    rest_echo: str
    echo_token: str
    html: str
    trino_failing: str
    trino_https: str
    pooler_port: int
    s3_tls: str
    roles: dict[str, str] = field(default_factory=dict)
    """role name → its password"""


def _role(postgres: PostgresEndpoint, name: str, *grants: str) -> str:
    password = uuid.uuid4().hex
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        for grant in grants:
            connection.execute(grant.format(role=name))
    return password


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Field]:
    tmp = tmp_path_factory.mktemp("field")
    tls = server_tls("floe-field-ca", ["127.0.0.1"])
    ca_file = tmp / "ca.pem"
    ca_file.write_text(tls.ca)
    hba = (
        "host all r_tls_blocked 127.0.0.1/32 reject\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "host replication all 127.0.0.1/32 scram-sha-256"
    )
    with ExitStack() as stack:
        postgres = stack.enter_context(postgres_cluster())
        tls_postgres = stack.enter_context(postgres_cluster(tls=tls, hba=hba))
        full = stack.enter_context(
            postgres_cluster(
                settings={"max_connections": "3", "superuser_reserved_connections": "0"}
            )
        )
        standby = stack.enter_context(postgres_standby(postgres))
        echo_token = secret("token")
        echo_catalog: dict[str, object] = {
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": echo_token,
            "warehouses": {"demo"}, "forbidden": (), "scopes": ("PRINCIPAL_ROLE:ALL",), "no_content": (),
        }  # fmt: skip
        for _ in range(3):
            stack.enter_context(psycopg.connect(full.dsn()))
        found = Field(
            tmp=tmp, postgres=postgres, tls_postgres=tls_postgres, full_postgres=full,
            standby=standby, ca_file=str(ca_file), s3=stack.enter_context(signing_s3()),
            aws=stack.enter_context(serve(AwsErrorHandler)),
            rest=stack.enter_context(
                iceberg_rest(CLIENT_ID, CLIENT_SECRET, {"demo", "sealed"}, no_content={"sealed"})
            ),
            rest_down=stack.enter_context(serve(DownHandler)),
            rest_echo=stack.enter_context(serve(EchoingCatalogHandler, catalog=echo_catalog)),
            echo_token=echo_token,
            html=stack.enter_context(html_page()),
            trino_failing=stack.enter_context(trino("Access Denied: Cannot select from [hive].[/x]")),
            trino_https=stack.enter_context(trino(password=TRINO_PASSWORD, tls=tls)),
            pooler_port=stack.enter_context(pgbouncer(postgres.host, postgres.port)),
            s3_tls="",
        )  # fmt: skip
        moto_port = int(found.s3.endpoint.rsplit(":", 1)[1])
        found.s3_tls = (
            f"https://127.0.0.1:{stack.enter_context(tls_proxy('127.0.0.1', moto_port, tls))}"
        )
        found.roles["r_tls_blocked"] = _role(tls_postgres, "r_tls_blocked")
        found.roles["r_public_only"] = _role(
            postgres, "r_public_only", "GRANT CREATE ON SCHEMA public TO {role}"
        )
        yield found


Setup = Callable[[Field], tuple[dict[str, str], list[str]]]


@dataclass(frozen=True)
class Case:
    setup: Setup
    exit_code: int
    cause: tuple[str, ...]
    fix: tuple[str, ...]
    evidence: str = "real"


def _pg(f: Field, **overrides: str) -> dict[str, str]:
    return pg_env(f.postgres, **overrides)


def _tls(f: Field, **overrides: str) -> dict[str, str]:
    return pg_env(f.tls_postgres, **overrides)


def _s3(f: Field, **overrides: str) -> dict[str, str]:
    env = {
        "FLOE_STORAGE__ENDPOINT": f.s3.endpoint, "FLOE_STORAGE__BUCKET": f.s3.bucket,
        "AWS_ACCESS_KEY_ID": f.s3.writer.access_key, "AWS_SECRET_ACCESS_KEY": f.s3.writer.secret_key,
    }  # fmt: skip
    return env | overrides


def _aws(f: Field, bucket: str) -> dict[str, str]:
    return _s3(f, FLOE_STORAGE__ENDPOINT=f.aws, FLOE_STORAGE__BUCKET=bucket)


def _config_file(f: Field, text: str) -> str:
    path = f.tmp / f"{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text)
    return str(path)


TRINO_PASSWORD = secret("trino")


def _trino_https(f: Field, **overrides: str) -> dict[str, str]:
    env = {
        "FLOE_COMPUTE__TYPE": "trino", "FLOE_COMPUTE__HOST": "127.0.0.1", "FLOE_COMPUTE__HTTP_SCHEME": "https",
        "FLOE_COMPUTE__PORT": f.trino_https.rsplit(":", 1)[1], "FLOE_COMPUTE__PASSWORD": TRINO_PASSWORD,
        "FLOE_COMPUTE__CA_FILE": f.ca_file,
    }  # fmt: skip
    return env | overrides


PG = ["--check", "postgres"]
S3 = ["--check", "storage"]
CATALOG = ["--check", "catalog"]
COMPUTE = ["--check", "compute"]

CASES: dict[str, Case] = {
    # configuration: one line, exit 2, naming the setting
    "a structured variable that is not JSON": Case(
        lambda f: ({"FLOE_TIMEOUTS": "postgres=10"}, PG), 2, ("FLOE_TIMEOUTS",), ("FLOE_TIMEOUTS__POSTGRES",)),
    "--config without a [preflight] table": Case(
        lambda f: ({}, ["--config", _config_file(f, "[postgres]\nhost = 'x'\n"), *PG]), 2,
        ("no [preflight] table",), ("under [preflight]",)),
    "an endpoint without a scheme": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT="127.0.0.1:9000"), S3), 2,
        ("storage.endpoint",), ("http://",)),
    "an IPv6 endpoint without brackets": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT="http://[::1:9000"), S3), 2,
        ("storage.endpoint",), ("[::1]",)),
    "a host that is a URL": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__HOST="postgresql://db.internal"), PG), 2,
        ("postgres.host",), ("host name or IP address",)),
    "a reserved character in the catalog URI's password": Case(
        lambda f: ({"FLOE_CATALOG__URI": f"postgresql://floe:{secret('uri')}/x@127.0.0.1:5432/floe"}, CATALOG),
        2, ("catalog.uri", "reserved character"), ("percent-encode",)),
    "show-config with a reserved character in the URI's password": Case(
        lambda f: ({"FLOE_CATALOG__URI": f"postgresql://floe:{secret('uri')}@x@127.0.0.1/floe"}, ["--show-config"]),
        2, ("reserved character",), ("percent-encode",)),
    "the password's source is the FLOE_ variable": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__PASSWORD=secret("pg"), POSTGRES_PASSWORD=secret("seed")), PG), 3,
        ("password authentication failed", "FLOE_POSTGRES__PASSWORD"), ("Verify FLOE_POSTGRES__PASSWORD",)),
    "the seed's variable over the file": Case(
        lambda f: (_pg(f), ["--config", _config_file(f, f"[preflight.postgres]\npassword = '{secret('file')}'\n"), *PG]),
        0, ("connected to PostgreSQL",), ()),
    "show-config names the environment as a timeout's source": Case(
        lambda f: ({"FLOE_TIMEOUTS__CATALOG": "9"}, ["--timeout", "postgres=3", "--show-config"]), 0,
        ("environment FLOE_TIMEOUTS__CATALOG", "flag --timeout"), ()),
    "an IPv6 host in brackets": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__HOST="[::1]"), PG), 3, ("[::1]:", "refused the connection"),
        ("FLOE_POSTGRES__HOST",)),
    "an IPv6 host in a catalog URI": Case(
        lambda f: ({"FLOE_CATALOG__URI": f"postgresql://floe@[::1]:{f.postgres.port}/floe"}, CATALOG), 3,
        ("[::1]:", "refused the connection"), ("FLOE_CATALOG__URI",)),
    "an unknown setting": Case(
        lambda f: ({"FLOE_POSTGRES__HOTS": "x"}, PG), 2, ("postgres.hots",), ("postgres.host",)),
    # output: server text is plain text
    "server text with [markup] in it": Case(
        lambda f: ({"FLOE_COMPUTE__TYPE": "trino", "FLOE_COMPUTE__HOST": "127.0.0.1",
                    "FLOE_COMPUTE__PORT": f.trino_failing.rsplit(":", 1)[1]}, COMPUTE), 3,
        ("[hive].[/x]",), ("may run queries",), "stand-in"),
    "a remediation with brackets": Case(
        lambda f: ({"FLOE_COMPUTE__TYPE": "snowflake", "FLOE_COMPUTE__PASSWORD": secret("sf")}, COMPUTE), 3,
        ("Snowflake client is not installed",), ("floe-preflight[snowflake]",)),
    # secrets
    "a one-character password is not masked into the host": Case(
        lambda f: (_pg(f, POSTGRES_PASSWORD="1"), PG), 3, ("127.0.0.1",), ("Verify POSTGRES_PASSWORD",)),
    "the catalog URI's password in show-config": Case(
        lambda f: ({"FLOE_CATALOG__URI": f"postgresql://floe:{secret('uri')}@127.0.0.1/floe"}, ["--show-config"]),
        0, ("postgresql://floe:***@127.0.0.1/floe",), ()),
    # Postgres: real clusters
    "wrong password": Case(lambda f: (_pg(f, POSTGRES_PASSWORD=secret("pg")), PG), 3,
        ("password authentication failed",), ("Verify POSTGRES_PASSWORD",)),
    "database missing": Case(lambda f: (_pg(f, FLOE_POSTGRES__DATABASE="nope"), PG), 3,
        ("database nope does not exist",), ("FLOE_POSTGRES__DATABASE",)),
    "connection refused": Case(lambda f: (_pg(f, FLOE_POSTGRES__PORT="1"), PG), 3,
        ("refused the connection",), ("FLOE_POSTGRES__HOST",)),
    "host does not resolve": Case(lambda f: (_pg(f, FLOE_POSTGRES__HOST="db.floe.invalid"), PG), 3,
        ("cannot resolve",), ("FLOE_POSTGRES__HOST",)),
    "sslmode=require against a server without TLS": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__SSLMODE="require"), PG), 3,
        ("does not offer TLS",), ("FLOE_POSTGRES__SSLMODE",)),
    "pg_hba rejects a role whose name contains tls": Case(
        lambda f: (_tls(f, FLOE_POSTGRES__USER="r_tls_blocked", POSTGRES_PASSWORD=f.roles["r_tls_blocked"],
                        FLOE_POSTGRES__SSLMODE="disable"), PG), 3,
        ("pg_hba.conf", "r_tls_blocked"), ("pg_hba.conf rule",)),
    "pg_hba has only hostssl rules and sslmode=disable": Case(
        lambda f: (_tls(f, FLOE_POSTGRES__SSLMODE="disable"), PG), 3,
        ("no pg_hba.conf rule", "no encryption"), ("sslmode=require",)),
    "verify-full without the CA": Case(
        lambda f: (_tls(f, FLOE_POSTGRES__SSLMODE="verify-full",
                        FLOE_POSTGRES__SSLROOTCERT=str(f.tmp / "missing.pem")), PG), 3,
        ("TLS with",), ("FLOE_POSTGRES__SSLROOTCERT",)),
    "verify-full with a CA that did not sign the server": Case(
        lambda f: (_tls(f, FLOE_POSTGRES__SSLMODE="verify-full",
                        FLOE_POSTGRES__SSLROOTCERT=_config_file(f, server_tls("other-ca", ["x"]).ca)), PG), 3,
        ("certificate verify failed",), ("FLOE_POSTGRES__SSLROOTCERT",)),
    "verify-full with the right CA": Case(
        lambda f: (_tls(f, FLOE_POSTGRES__SSLMODE="verify-full", FLOE_POSTGRES__SSLROOTCERT=f.ca_file), PG), 0,
        ("connected to PostgreSQL",), ()),
    "max_connections exhausted": Case(lambda f: (pg_env(f.full_postgres), PG), 3,
        ("connection slots", "max_connections"), ("raise max_connections",)),
    "a streaming standby": Case(lambda f: (pg_env(f.standby), PG), 3,
        ("read-only",), ("at the primary",)),
    "CREATE on public but not on the database": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__USER="r_public_only", POSTGRES_PASSWORD=f.roles["r_public_only"]), PG), 3,
        ("may not create schemas", "CREATE SCHEMA"), ("GRANT CREATE ON DATABASE floe TO r_public_only",)),
    # S3: moto's server with IAM on (a stand-in for S3 that checks signatures and grants as AWS does)
    "an unknown access key": Case(lambda f: (_s3(f, AWS_ACCESS_KEY_ID="AKIAUNKNOWN"), S3), 3,
        ("does not know access key",), ("FLOE_STORAGE__ACCESS_KEY_ID",), "stand-in"),
    "a wrong secret key": Case(lambda f: (_s3(f, AWS_SECRET_ACCESS_KEY=secret("s3")), S3), 3,
        ("signature",), ("FLOE_STORAGE__SECRET_ACCESS_KEY",), "stand-in"),
    "temporary credentials without their token": Case(
        lambda f: (_s3(f, AWS_ACCESS_KEY_ID=f.s3.session.access_key,
                       AWS_SECRET_ACCESS_KEY=f.s3.session.secret_key), S3), 3,
        ("access key",), ("FLOE_STORAGE__",), "stand-in"),
    "a reader asked to write": Case(
        lambda f: (_s3(f, AWS_ACCESS_KEY_ID=f.s3.reader.access_key,
                       AWS_SECRET_ACCESS_KEY=f.s3.reader.secret_key), [*S3, "--write-probe"]), 3,
        ("may not write",), ("Grant access key",), "stand-in"),
    "a bucket that does not exist": Case(lambda f: (_s3(f, FLOE_STORAGE__BUCKET="nope"), S3), 3,
        ("bucket nope does not exist",), ("Create bucket nope",), "stand-in"),
    "virtual-host bucket name that does not resolve": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT=f.s3.endpoint.replace("127.0.0.1", "localhost"),
                       FLOE_STORAGE__PATH_STYLE="false", FLOE_STORAGE__BUCKET="warehouse-nx"), S3), 3,
        ("warehouse-nx.localhost",), ("FLOE_STORAGE__PATH_STYLE=true",), "stand-in"),
    "an S3 endpoint that is an HTML console": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT=f.html), S3), 3,
        ("other than S3",), ("S3 API",), "stand-in"),
    # S3: AWS's documented answers, replayed
    "clock skew": Case(lambda f: (_aws(f, "skewed"), S3), 3, ("clock",), ("Synchronise",), "stand-in"),
    "a wrong region": Case(lambda f: (_aws(f, "elsewhere"), S3), 3,
        ("eu-west-1",), ("FLOE_STORAGE__REGION to eu-west-1",), "stand-in"),
    "S3 answers 503": Case(lambda f: (_aws(f, "broken"), S3), 3, ("503",), ("internal error",), "stand-in"),
    # catalog: Polaris's protocol, replayed
    "a wrong client secret": Case(lambda f: (rest_env(f.rest, secret=secret("polaris")), CATALOG), 3,
        ("client authentication failed",), ("POLARIS_CLIENT_SECRET",), "stand-in"),
    "an unknown warehouse": Case(lambda f: (rest_env(f.rest, warehouse="nope"), CATALOG), 3,
        ("warehouse nope is unknown",), ("FLOE_CATALOG__WAREHOUSE",), "stand-in"),
    "no catalog content rights": Case(lambda f: (rest_env(f.rest, warehouse="sealed"), CATALOG), 3,
        ("not its contents", "LIST_NAMESPACES"), ("CATALOG_MANAGE_CONTENT",), "stand-in"),
    "a token endpoint that is down": Case(lambda f: (rest_env(f.rest_down), CATALOG), 3,
        ("503", "server error"), ("read its logs",), "stand-in"),
    "a gateway that echoes the access token": Case(lambda f: (rest_env(f.rest_echo), CATALOG), 3,
        ("rejected its own token", "not valid here"), ("POLARIS_CLIENT_SECRET",), "stand-in"),
    "an HTML page answering 200": Case(lambda f: (rest_env(f.html), CATALOG), 3,
        ("answered 200 with text/html",), ("/v1/config",), "stand-in"),
    "a catalog over TLS signed by an unknown CA": Case(
        lambda f: (rest_env(f.rest.replace("http://", "https://")), CATALOG), 3,
        ("TLS handshake",), ("FLOE_CATALOG__CA_FILE",), "stand-in"),
    # compute: Trino's protocol, replayed
    "Trino over HTTPS sends the password": Case(lambda f: (_trino_https(f), COMPUTE), 0,
        ("SELECT 1 returned 1",), (), "stand-in"),
    "Trino over HTTPS with a wrong password": Case(
        lambda f: (_trino_https(f, FLOE_COMPUTE__PASSWORD=secret("trino")), COMPUTE), 3,
        ("rejected user floe", "401"), ("FLOE_COMPUTE__PASSWORD",), "stand-in"),
    "Trino over HTTPS signed by an unknown CA": Case(
        lambda f: ({k: v for k, v in _trino_https(f).items() if k != "FLOE_COMPUTE__CA_FILE"}, COMPUTE), 3,
        ("TLS handshake", "unable to get local issuer certificate"), ("FLOE_COMPUTE__CA_FILE",), "stand-in"),
    "a pooler in front of Postgres (PgBouncer's startup)": Case(
        lambda f: (_pg(f, FLOE_POSTGRES__PORT=str(f.pooler_port)), PG), 0,
        ("connected to PostgreSQL",), (), "stand-in"),
    "S3 behind a TLS proxy signed by an unknown CA": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT=f.s3_tls), S3), 3,
        ("TLS handshake", "unable to get local issuer certificate"), ("FLOE_STORAGE__CA_BUNDLE",), "stand-in"),
    "S3 behind a TLS proxy with its CA bundle": Case(
        lambda f: (_s3(f, FLOE_STORAGE__ENDPOINT=f.s3_tls, FLOE_STORAGE__CA_BUNDLE=f.ca_file), S3), 0,
        ("reachable",), (), "stand-in"),
    "a Trino password over http": Case(
        lambda f: ({"FLOE_COMPUTE__TYPE": "trino", "FLOE_COMPUTE__HOST": "127.0.0.1",
                    "FLOE_COMPUTE__PASSWORD": secret("trino")}, COMPUTE), 3,
        ("only sent over HTTPS",), ("FLOE_COMPUTE__HTTP_SCHEME",), "stand-in"),
}  # fmt: skip

OLD_CODE_WRONG: dict[str, list[str]] = {
    "crashes and tracebacks": [
        "a structured variable that is not JSON",  # pydantic SettingsError traceback
        "an IPv6 endpoint without brackets",  # ValueError traceback
        "server text with [markup] in it",  # rich MarkupError traceback in table mode
        "a remediation with brackets",  # `[snowflake]` vanished from the table
    ],
    "secrets": [
        "a reserved character in the catalog URI's password",
        "show-config with a reserved character in the URI's password",
        "a one-character password is not masked into the host",
        "a gateway that echoes the access token",
    ],
    "wrong cause": [
        "pg_hba rejects a role whose name contains tls", "pg_hba has only hostssl rules and sslmode=disable",
        "max_connections exhausted", "clock skew", "a wrong region", "a token endpoint that is down",
        "virtual-host bucket name that does not resolve", "an S3 endpoint that is an HTML console",
    ],
    "probes": [
        "Trino over HTTPS sends the password", "Trino over HTTPS with a wrong password",
        "a Trino password over http", "CREATE on public but not on the database",
        "a pooler in front of Postgres (PgBouncer's startup)", "no catalog content rights",
        "verify-full without the CA", "verify-full with a CA that did not sign the server",
        "verify-full with the right CA", "a catalog over TLS signed by an unknown CA",
        "Trino over HTTPS signed by an unknown CA", "S3 behind a TLS proxy signed by an unknown CA",
        "S3 behind a TLS proxy with its CA bundle",
    ],
    "configuration": [
        "--config without a [preflight] table", "the password's source is the FLOE_ variable",
        "the seed's variable over the file", "show-config names the environment as a timeout's source",
        "an endpoint without a scheme", "a host that is a URL", "an IPv6 host in brackets",
        "an IPv6 host in a catalog URI",
    ],
}  # fmt: skip
"""The 37 cases the code before issue #30 got wrong, by the issue's classes: checked by running
this corpus against that code (its preflight package first on PYTHONPATH); the other 17 it
already got right and stay as regressions."""

SECRET_NAMES = ("PASSWORD", "SECRET", "TOKEN", "URI")


def _secrets(env: dict[str, str], f: Field) -> list[str]:
    """Every secret the case configured, long enough to be told apart from other text."""
    found = [
        value for name, value in env.items() if name.endswith(SECRET_NAMES) and SECRET_MARK in value
    ]
    found += [
        f.postgres.password,
        *f.roles.values(),
        f.s3.writer.secret_key,
        CLIENT_SECRET,
        f.echo_token,
    ]
    uri = env.get("FLOE_CATALOG__URI", "")
    if SECRET_MARK in uri:
        found.append(SECRET_MARK)
    return found


def _flatten(output: str) -> str:
    return re.sub(r"[\s│┃|…]", "", output)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.requirement("007-FR-036", evidence=case.evidence))
        for name, case in CASES.items()
    ],
)
def test_field_case(servers: Field, name: str) -> None:
    """Exit code, cause and fix named, no configured secret, no traceback, in every mode."""
    case = CASES[name]
    env, args = case.setup(servers)
    for mode in MODES:
        code, output = preflight(env, *args, "--format", mode)
        assert code == case.exit_code, (mode, output)
        assert "Traceback" not in output, (mode, output)
        flat = _flatten(output)
        # a table wraps a cell over several lines, interleaved with its neighbours' cells
        expected = [
            w for p in (*case.cause, *case.fix) for w in (p.split() if mode == "table" else [p])
        ]
        for words in expected:
            assert _flatten(words) in flat, (mode, words, output)
        for configured in _secrets(env, servers):
            assert configured not in flat, (mode, output)
        if mode == "json":
            json.loads(output)
        if name == "a one-character password is not masked into the host":
            assert "***" not in output, (mode, output)


@pytest.mark.requirement("007-FR-036", evidence="plumbing")
def test_the_corpus_covers_every_class() -> None:
    """At least 40 cases; every class of the issue has cases the old code got wrong."""
    assert len(CASES) >= 40
    assert all(names for names in OLD_CODE_WRONG.values())
    assert {name for names in OLD_CODE_WRONG.values() for name in names} <= set(CASES)


@pytest.mark.requirement("007-FR-035", evidence="plumbing")
def test_an_unexpected_error_is_one_line_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever breaks inside, the operator gets one line and exit 3, never a traceback."""
    from floe_preflight import cli  # noqa: PLC0415

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom [/x]\nsecond line")

    monkeypatch.setattr(cli, "run_preflight", broken)
    for mode in MODES:
        code, output = preflight({}, "--format", mode)
        assert code == 3, output
        assert "Traceback" not in output
        assert "boom" in output
        assert "second line" not in output
