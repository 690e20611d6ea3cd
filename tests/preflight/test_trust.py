"""Preflight you can trust: no false passes, no leaked secret, errors that name the real cause.

Against a real PostgreSQL 15 cluster, moto's S3 server with IAM authentication on (it checks
signatures, session tokens and grants as AWS does), and protocol stand-ins for Polaris (the
Iceberg REST token and config endpoints), an HTML page and a socket that never answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from rich.console import Console

from floe_deploy.testing import PostgresEndpoint, free_port
from floe_deploy.testing.local_services import SigningS3
from floe_deploy.testing.protocol_servers import html_page, iceberg_rest, silent_socket
from floe_preflight.config import PreflightSettings
from floe_preflight.runner import Progress, run_preflight
from floe_preflight.show import progress
from tests.preflight.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    MODES,
    SECRET_MARK,
    pg_env,
    preflight,
    report,
    rest_env,
    results,
    secret,
)


def signing_env(
    s3: SigningS3, key: str, secret_key: str, token: str | None = None
) -> dict[str, str]:
    env = {
        "FLOE_STORAGE__ENDPOINT": s3.endpoint, "FLOE_STORAGE__BUCKET": s3.bucket,
        "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret_key,
    }  # fmt: skip
    return env | ({"AWS_SESSION_TOKEN": token} if token else {})


@dataclass(frozen=True)
class Role:
    user: str
    password: str
    database: str


def _create_role(postgres: PostgresEndpoint, *, owns_database: bool) -> Role:
    """A login role with a fresh database: owned by it, or by floe (then no CREATE on public)."""
    role = Role(f"r_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, f"d_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role.user} LOGIN PASSWORD '{role.password}'")
        owner = role.user if owns_database else postgres.user
        connection.execute(f"CREATE DATABASE {role.database} OWNER {owner}")
    return role


@pytest.fixture
def catalog_role(local_postgres: PostgresEndpoint) -> Role:
    """The SQL catalog's own user and database, with the catalog's tables in it."""
    role = _create_role(local_postgres, owns_database=True)
    dsn = (
        f"postgresql://{role.user}:{role.password}@127.0.0.1:{local_postgres.port}/{role.database}"
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE iceberg_tables (catalog_name text, table_name text)")
    return role


def catalog_uri(
    postgres: PostgresEndpoint, role: Role, password: str | None, driver: str = ""
) -> str:
    userinfo = f"{role.user}:{password}" if password is not None else role.user
    return f"postgresql{driver}://{userinfo}@127.0.0.1:{postgres.port}/{role.database}"


# secrets ---------------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres: PostgresEndpoint
    s3: SigningS3
    rest: str
    tls_rest: str
    html: str
    silent_port: int
    closed_port: int


@pytest.fixture(scope="module")
def servers(
    local_postgres: PostgresEndpoint,
    local_signing_s3: SigningS3,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Servers]:
    with ExitStack() as stack:
        rest = stack.enter_context(iceberg_rest(CLIENT_ID, CLIENT_SECRET, {"demo"}))
        tls = stack.enter_context(
            iceberg_rest(CLIENT_ID, CLIENT_SECRET, {"demo"}, tls_dir=tmp_path_factory.mktemp("tls"))
        )
        html = stack.enter_context(html_page())
        silent = stack.enter_context(silent_socket())
        yield Servers(local_postgres, local_signing_s3, rest, tls, html, silent, free_port())


Scenario = Callable[[Servers, dict[str, str]], tuple[dict[str, str], list[str]]]
"""Given the servers and one secret per credential, the environment and arguments of one failure."""


def _pg(s: Servers, **overrides: str) -> dict[str, str]:
    return pg_env(s.postgres, **overrides)


def _sql_catalog(s: Servers, uri: str, **more: str) -> dict[str, str]:
    return {"FLOE_CATALOG__TYPE": "sql", "FLOE_CATALOG__URI": uri} | more


FAILURE_PATHS: dict[str, Scenario] = {
    "postgres wrong password": lambda s, x: (_pg(s, POSTGRES_PASSWORD=x["pg"]), ["--check", "postgres"]),
    "postgres database missing": lambda s, x: (_pg(s, FLOE_POSTGRES__DATABASE="absent"), ["--check", "postgres"]),
    "postgres refused": lambda s, x: (
        _pg(s, FLOE_POSTGRES__PORT=str(s.closed_port), POSTGRES_PASSWORD=x["pg"]), ["--check", "postgres"]),
    "postgres without TLS": lambda s, x: (
        _pg(s, FLOE_POSTGRES__SSLMODE="require", POSTGRES_PASSWORD=x["pg"]), ["--check", "postgres"]),
    "postgres silent": lambda s, x: (
        _pg(s, FLOE_POSTGRES__PORT=str(s.silent_port), POSTGRES_PASSWORD=x["pg"]),
        ["--check", "postgres", "--timeout", "1"]),
    "sql catalog wrong password in a SQLAlchemy URI": lambda s, x: (
        _sql_catalog(s, f"postgresql+psycopg://floe:{x['uri']}@127.0.0.1:{s.postgres.port}/floe"),
        ["--check", "catalog"]),
    "sql catalog port not a number": lambda s, x: (
        _sql_catalog(s, f"postgresql+psycopg://floe:{x['uri']}@127.0.0.1:port/floe"), ["--check", "catalog"]),
    "sql catalog bad query parameter": lambda s, x: (
        _sql_catalog(s, f"postgresql://floe:{x['uri']}@127.0.0.1:{s.postgres.port}/floe?bogus=1"),
        ["--check", "catalog"]),
    "sql catalog other scheme": lambda s, x: (
        _sql_catalog(s, f"mysql+pymysql://floe:{x['uri']}@127.0.0.1/floe"), ["--check", "catalog"]),
    "sql catalog refused": lambda s, x: (
        _sql_catalog(s, f"postgresql://floe:{x['uri']}@127.0.0.1:{s.closed_port}/floe"), ["--check", "catalog"]),
    "sql catalog wrong FLOE_CATALOG__PASSWORD": lambda s, x: (
        _sql_catalog(s, f"postgresql://floe@127.0.0.1:{s.postgres.port}/floe", FLOE_CATALOG__PASSWORD=x["catalog"]),
        ["--check", "catalog"]),
    "rest wrong client secret": lambda s, x: (rest_env(s.rest, secret=x["polaris"]), ["--check", "catalog"]),
    "rest invalid scope": lambda s, x: (
        rest_env(s.rest) | {"FLOE_CATALOG__SCOPE": "PRINCIPAL_ROLE:admin"}, ["--check", "catalog"]),
    "rest html page": lambda s, x: (rest_env(s.html, secret=x["polaris"]), ["--check", "catalog"]),
    "rest wrong path": lambda s, x: (rest_env(f"{s.rest}/api/catalog", secret=x["polaris"]), ["--check", "catalog"]),
    "rest untrusted TLS": lambda s, x: (rest_env(s.tls_rest, secret=x["polaris"]), ["--check", "catalog"]),
    "rest silent": lambda s, x: (
        rest_env(f"http://127.0.0.1:{s.silent_port}", secret=x["polaris"]), ["--check", "catalog", "--timeout", "1"]),
    "s3 wrong secret": lambda s, x: (signing_env(s.s3, s.s3.writer.access_key, x["s3"]), ["--check", "storage"]),
    "s3 wrong session token": lambda s, x: (
        signing_env(s.s3, s.s3.session.access_key, s.s3.session.secret_key, x["token"]), ["--check", "storage"]),
    "s3 may not write": lambda s, x: (
        signing_env(s.s3, s.s3.reader.access_key, s.s3.reader.secret_key) | {"FLOE_COMPUTE__PASSWORD": x["compute"]},
        ["--check", "storage", "--write-probe"]),
    "s3 endpoint with userinfo refused": lambda s, x: (
        signing_env(s.s3, s.s3.writer.access_key, x["s3"]) | {
            "FLOE_STORAGE__ENDPOINT": f"http://floe:{x['endpoint']}@127.0.0.1:{s.closed_port}"},
        ["--check", "storage"]),
    "snowflake without its client": lambda s, x: (
        {"FLOE_COMPUTE__TYPE": "snowflake", "FLOE_COMPUTE__PASSWORD": x["compute"]}, ["--check", "compute"]),
    "a secret-looking value where a number belongs": lambda s, x: (
        _pg(s, FLOE_POSTGRES__PORT=x["pg"]), ["--check", "postgres"]),
    "show-config": lambda s, x: (
        _pg(s, POSTGRES_PASSWORD=x["pg"]) | rest_env(s.rest, secret=x["polaris"])
        | signing_env(s.s3, "AKIA", x["s3"], x["token"])
        | {"FLOE_CATALOG__PASSWORD": x["catalog"], "FLOE_COMPUTE__PASSWORD": x["compute"]},
        ["--show-config"]),
}  # fmt: skip


@pytest.mark.requirement("007-FR-036", evidence="stand-in")
@pytest.mark.parametrize("path", list(FAILURE_PATHS))
def test_no_secret_in_any_failure_path_or_output_mode(servers: Servers, path: str) -> None:
    """Every credential preflight knows, the catalog URI's password included, through each
    failure path in the three output modes; a table cell that truncates one still shows the mark."""
    secrets = {
        name: secret(name)
        for name in ("pg", "uri", "catalog", "polaris", "s3", "token", "endpoint", "compute")
    }
    env, args = FAILURE_PATHS[path](servers, secrets)
    for mode in MODES:
        code, output = preflight(env, *args, "--format", mode)
        assert code != 0 or path == "show-config", (mode, output)
        flattened = re.sub(r"[\s│┃|…]", "", output)
        assert SECRET_MARK not in flattened, (mode, output)
        assert servers.postgres.password not in flattened, (mode, output)


# the SQL catalog's own credentials ---------------------------------------------------------------


@pytest.mark.requirement("007-FR-036", evidence="real")
def test_sql_catalog_connects_with_its_uris_credentials(
    local_postgres: PostgresEndpoint, catalog_role: Role
) -> None:
    """The Postgres check's user and password differ; pyiceberg's SQLAlchemy URI form is accepted."""
    uri = catalog_uri(local_postgres, catalog_role, catalog_role.password, driver="+psycopg")
    code, found = results(
        pg_env(local_postgres) | {"FLOE_CATALOG__URI": uri},
        "--check",
        "catalog",
        "--check",
        "postgres",
    )
    assert code == 0, found
    assert found["catalog"]["message"] == (
        f"catalog tables present in 127.0.0.1:{local_postgres.port}/{catalog_role.database} (0 Iceberg tables registered)"
    )


@pytest.mark.requirement("007-FR-036", evidence="real")
def test_wrong_catalog_password_names_the_catalog_user_and_setting(
    local_postgres: PostgresEndpoint, catalog_role: Role
) -> None:
    uri = catalog_uri(local_postgres, catalog_role, "not-the-password")
    code, found = results(pg_env(local_postgres) | {"FLOE_CATALOG__URI": uri}, "--check", "catalog")
    catalog = found["catalog"]
    assert code == 3
    assert catalog["kind"] == "wrong_password"
    assert catalog["message"] == (
        f"password authentication failed for user {catalog_role.user} on 127.0.0.1:{local_postgres.port}/"
        f"{catalog_role.database} (password from the password in FLOE_CATALOG__URI)"
    )
    assert catalog["setting"] == "FLOE_CATALOG__URI"


@pytest.mark.requirement("007-FR-036", evidence="real")
def test_catalog_uri_without_password_takes_the_platforms_postgres_password(
    local_postgres: PostgresEndpoint, catalog_role: Role
) -> None:
    """As the Helm hook passes it: the URI without a password, POSTGRES_PASSWORD from the Secret."""
    env = {
        "FLOE_CATALOG__URI": catalog_uri(local_postgres, catalog_role, None),
        "POSTGRES_PASSWORD": catalog_role.password,
    }
    code, found = results(env, "--check", "catalog")
    assert code == 0, found


# skips are not passes ------------------------------------------------------------------------------


@pytest.mark.requirement("007-FR-034", evidence="real")
@pytest.mark.requirement("007-FR-035", evidence="real")
def test_nothing_configured_is_not_a_pass() -> None:
    """Run as `floe-preflight` with no settings: only DuckDB (and the local platform) can run."""
    code, found = results({})
    assert code != 0, found
    assert (found["storage"]["status"], found["storage"]["kind"]) == ("skipped", "not_configured")
    assert found["storage"]["setting"] == "FLOE_STORAGE__BUCKET"
    strict_code, strict = results({}, "--strict")
    assert strict_code == 3
    assert {strict[name]["status"] for name in ("storage", "catalog", "postgres")} == {"error"}


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_skips_alone_exit_5_and_warnings_ok_does_not_hide_them() -> None:
    report = run_preflight(PreflightSettings(), ["compute", "storage", "postgres"])
    assert [r.status.value for r in report.results] == ["ok", "skipped", "skipped"]
    assert report.exit_code() == report.exit_code(warnings_ok=True) == 5


@pytest.mark.requirement("007-FR-034", evidence="real")
@pytest.mark.parametrize(
    ("env", "check", "setting"),
    [
        ({}, "postgres", "FLOE_POSTGRES__HOST"),
        ({"FLOE_COMPUTE__TYPE": "trino"}, "compute", "FLOE_COMPUTE__HOST"),
    ],
)
def test_a_named_check_that_cannot_run_is_an_error(
    env: dict[str, str], check: str, setting: str
) -> None:
    code, found = results(env, "--check", check)
    assert code == 3
    assert found[check]["status"] == "error"
    assert found[check]["message"] == f"not configured ({setting} is not set)"


@pytest.mark.requirement("007-FR-044", evidence="real")
def test_a_misspelled_setting_is_named_with_the_closest_valid_one(tmp_path: Path) -> None:
    code, output = preflight({"FLOE_POSTGRES__HOTS": "db"}, "--check", "postgres")
    assert code == 2
    assert output.strip() == (
        "ERROR: unknown setting postgres.hots from environment FLOE_POSTGRES__HOTS (did you mean postgres.host?). "
        "Remediation: fix FLOE_POSTGRES__HOTS."
    )
    (tmp_path / "floe-deploy.toml").write_text("[preflight.postgres]\nhots = 'db'\n")
    code, found = report({}, "--check", "postgres")
    assert code == 2
    assert found["error"]["message"].startswith(
        "unknown setting postgres.hots from floe-deploy.toml"
    )
    assert "did you mean postgres.host?" in found["error"]["message"]
    (tmp_path / "floe-deploy.toml").unlink()
    code, found = report({"FLOE_POSTGRES_HOST": "db"}, "--check", "compute")
    assert code == 0
    assert found["notices"] == [
        "FLOE_POSTGRES_HOST is not a preflight setting (did you mean FLOE_POSTGRES__HOST?); it was ignored"
    ]


# timing measures the probe ------------------------------------------------------------------------

SLOW_IMPORT = """
import importlib.abc, sys, time

class SlowBoto3(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "boto3":
            time.sleep(3)
        return None

sys.meta_path.insert(0, SlowBoto3())
"""


@pytest.mark.requirement("007-FR-034", evidence="stand-in")
def test_loading_a_client_library_does_not_count_against_the_timeout(
    local_signing_s3: SigningS3, tmp_path: Path
) -> None:
    """boto3 takes 3 s to import here (a busy machine, made certain); the probe has 2 s."""
    (tmp_path / "sitecustomize.py").write_text(SLOW_IMPORT)
    s3 = local_signing_s3
    done = subprocess.run(
        [sys.executable, "-m", "floe_preflight.cli", "--check", "storage", "--timeout", "2", "--json"],
        env=signing_env(s3, s3.writer.access_key, s3.writer.secret_key) | {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    (storage,) = json.loads(done.stdout)["results"]
    assert done.returncode == 0, storage
    assert storage["import_ms"] >= 3000
    assert storage["duration_ms"] < 2000


@pytest.mark.requirement("007-FR-034", evidence="real")
def test_the_runners_timeout_names_the_endpoint(local_postgres: PostgresEndpoint) -> None:
    """libpq waits at least 2 s to connect; at --timeout 1 the runner's own deadline ends the check."""
    with silent_socket() as port:
        started = time.monotonic()
        code, found = results(
            pg_env(local_postgres, FLOE_POSTGRES__PORT=str(port)),
            "--check",
            "postgres",
            "--timeout",
            "1",
        )
        elapsed = time.monotonic() - started
    postgres = found["postgres"]
    assert code == 3
    assert (
        postgres["message"]
        == f"no answer from 127.0.0.1:{port}/{local_postgres.database} within 1 s"
    )
    assert (postgres["kind"], postgres["setting"]) == ("timeout", "FLOE_POSTGRES__HOST")
    assert elapsed < 10


@pytest.mark.requirement("007-FR-044", evidence="stand-in")
def test_per_check_timeouts(local_postgres: PostgresEndpoint, rest_catalog: str) -> None:
    with silent_socket() as port:
        env = pg_env(local_postgres, FLOE_POSTGRES__PORT=str(port)) | rest_env(
            f"http://127.0.0.1:{port}"
        )
        _, found = results(
            env | {"FLOE_TIMEOUTS__CATALOG": "1"},
            "--check",
            "catalog",
            "--check",
            "postgres",
            "--timeout",
            "postgres=1.5",
        )
    assert found["postgres"]["message"].endswith("within 1.5 s")
    assert found["catalog"]["message"].endswith("within 1 s")


@pytest.mark.requirement("007-FR-034", evidence="real")
def test_a_sql_catalog_does_not_wait_for_storage(local_postgres: PostgresEndpoint) -> None:
    with silent_socket() as port:
        env = {
            "FLOE_STORAGE__ENDPOINT": f"http://127.0.0.1:{port}", "FLOE_STORAGE__BUCKET": "b",
            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
            "FLOE_CATALOG__URI": f"postgresql://{local_postgres.user}@127.0.0.1:{local_postgres.port}/floe",
            "POSTGRES_PASSWORD": local_postgres.password,
        }  # fmt: skip
        _, found = results(env, "--check", "storage", "--check", "catalog", "--timeout", "1")
    assert found["storage"]["kind"] == "timeout"
    assert found["catalog"]["status"] in {"ok", "warning"}, found["catalog"]


# storage credentials --------------------------------------------------------------------------------


@pytest.mark.requirement("007-FR-036", evidence="stand-in")
def test_temporary_credentials_with_their_session_token(local_signing_s3: SigningS3) -> None:
    s3 = local_signing_s3
    env = signing_env(s3, s3.session.access_key, s3.session.secret_key, s3.session.session_token)
    code, found = results(env, "--check", "storage", "--write-probe")
    assert code == 0, found


@pytest.mark.requirement("007-FR-036", evidence="stand-in")
@pytest.mark.parametrize(
    ("who", "kind", "setting", "message"),
    [
        (
            "unknown key",
            "unauthorized",
            "FLOE_STORAGE__ACCESS_KEY_ID",
            "does not know access key AKIAUNKNOWNKEY000000 (InvalidAccessKeyId)",
        ),
        (
            "wrong secret",
            "unauthorized",
            "FLOE_STORAGE__SECRET_ACCESS_KEY",
            "rejected the request signature",
        ),
        (
            "wrong token",
            "unauthorized",
            "FLOE_STORAGE__SESSION_TOKEN",
            "rejected the session token (InvalidToken",
        ),
        (
            "reader writes",
            "forbidden",
            "FLOE_STORAGE__ACCESS_KEY_ID",
            "may not write warehouse/.floe-preflight/",
        ),
    ],
)
def test_storage_failures_name_the_credential_at_fault(
    local_signing_s3: SigningS3, who: str, kind: str, setting: str, message: str
) -> None:
    s3 = local_signing_s3
    env = {
        "unknown key": signing_env(s3, "AKIAUNKNOWNKEY000000", "x"),
        "wrong secret": signing_env(s3, s3.writer.access_key, "not-the-secret"),
        "wrong token": signing_env(
            s3, s3.session.access_key, s3.session.secret_key, "not-the-token"
        ),
        "reader writes": signing_env(s3, s3.reader.access_key, s3.reader.secret_key),
    }[who]
    code, found = results(env, "--check", "storage", "--write-probe")
    storage = found["storage"]
    assert code == 3
    assert (storage["kind"], storage["setting"]) == (kind, setting)
    assert message in storage["message"]
    assert storage["docs"] == f"docs/06-deployment-view.md#preflight-{kind}"


# the catalog's answers ------------------------------------------------------------------------------


@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_invalid_scope_is_not_unauthorized(rest_catalog: str) -> None:
    code, found = results(
        rest_env(rest_catalog) | {"FLOE_CATALOG__SCOPE": "PRINCIPAL_ROLE:admin"},
        "--check",
        "catalog",
    )
    catalog = found["catalog"]
    assert code == 3
    assert (catalog["kind"], catalog["setting"]) == ("invalid_scope", "FLOE_CATALOG__SCOPE")
    assert catalog["message"] == (
        "the catalog refused scope PRINCIPAL_ROLE:admin "
        "(400 invalid_scope: The scope PRINCIPAL_ROLE:admin is not granted to this client)"
    )


@pytest.mark.requirement("007-FR-037", evidence="stand-in")
def test_a_url_that_is_not_the_catalog(rest_catalog: str) -> None:
    with html_page() as page:
        _, html = results(rest_env(page), "--check", "catalog")
    _, wrong_path = results(rest_env(f"{rest_catalog}/api/catalog"), "--check", "catalog")
    assert html["catalog"]["kind"] == wrong_path["catalog"]["kind"] == "not_a_catalog"
    assert "answered 200 with text/html" in html["catalog"]["message"]
    assert "answered 404" in wrong_path["catalog"]["message"]
    assert "--timeout" not in str(html["catalog"]["remediation"]) + str(
        wrong_path["catalog"]["remediation"]
    )
    assert wrong_path["catalog"]["setting"] == "FLOE_CATALOG__URI"


@pytest.mark.requirement("007-FR-036", evidence="real")
def test_a_server_without_tls_is_not_a_ca_problem(local_postgres: PostgresEndpoint) -> None:
    _, found = results(
        pg_env(local_postgres, FLOE_POSTGRES__SSLMODE="require"), "--check", "postgres"
    )
    postgres = found["postgres"]
    assert (postgres["kind"], postgres["setting"]) == ("tls_not_offered", "FLOE_POSTGRES__SSLMODE")
    assert "CA" not in str(postgres["remediation"])


@pytest.mark.requirement("007-FR-036", evidence="real")
def test_writable_means_may_create_tables_in_the_schema(local_postgres: PostgresEndpoint) -> None:
    """PostgreSQL 15 no longer lets every user CREATE on public: a temporary table would pass."""
    role = _create_role(local_postgres, owns_database=False)
    env = pg_env(local_postgres, FLOE_POSTGRES__USER=role.user, POSTGRES_PASSWORD=role.password,
                 FLOE_POSTGRES__DATABASE=role.database)  # fmt: skip
    code, found = results(env, "--check", "postgres")
    postgres = found["postgres"]
    assert code == 3
    assert postgres["kind"] == "no_create_privilege"
    assert (
        postgres["message"]
        == f"user {role.user} may not create tables in schema public of database {role.database}"
    )
    assert f"GRANT CREATE ON SCHEMA public TO {role.user}" in postgres["remediation"]


# bad input -------------------------------------------------------------------------------------------


@pytest.mark.requirement("007-FR-035", evidence="real")
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--timeout", "0"],
            {},
            "ERROR: invalid setting timeout (from flag --timeout): Input should be greater than 0. Remediation: fix --timeout.",
        ),
        (
            ["--timeout", "inf"],
            {},
            "ERROR: invalid setting timeout (from flag --timeout): Input should be a finite number. Remediation: fix --timeout.",
        ),
        (
            ["--timeout", "abc"],
            {"FLOE_TIMEOUT": "3"},
            "ERROR: floe-preflight: Invalid value for '--timeout': 'abc' is not SECONDS or CHECK=SECONDS. Remediation: see --help.",
        ),
        (
            [],
            {"FLOE_TIMEOUT": "-1"},
            "ERROR: invalid setting timeout (from environment FLOE_TIMEOUT): Input should be greater than 0. Remediation: fix FLOE_TIMEOUT.",
        ),
        (
            ["--format", "xml"],
            {},
            "ERROR: floe-preflight: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'lines'. Remediation: see --help.",
        ),
        (
            ["--config", "absent.toml"],
            {},
            "ERROR: config file absent.toml does not exist. Remediation: fix --config.",
        ),
        (
            ["--check-compute"],
            {},
            "ERROR: floe-preflight: no option --check-compute; name a check with `--check compute`. Remediation: see --help.",
        ),
    ],
)
def test_bad_input_is_one_line_naming_its_source(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    code, output = preflight(env, *args)
    assert (code, output.strip()) == (2, expected)


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_usage_errors_are_json_under_json() -> None:
    code, output = preflight({}, "--check", "kafka", "--json")
    error = json.loads(output)
    assert code == 2
    assert error["schema_version"] == 2
    assert error["error"]["exit_code"] == 2
    assert "'kafka' is not one of" in error["error"]["message"]


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_invoke_preflight_rejects_an_unknown_format() -> None:
    from floe_deploy.testing import run_task  # noqa: PLC0415

    done = run_task("preflight", "--format", "xml")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "ERROR: invoke preflight: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'lines'. "
        "Remediation: see --help."
    )


# what a mature tool offers ----------------------------------------------------------------------------


@pytest.mark.requirement("007-FR-044", evidence="real")
def test_show_config_says_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "team.toml"
    config.write_text(
        "[preflight]\ntimeout = 7\n[preflight.storage]\nbucket = 'from-file'\nregion = 'eu-west-1'\n"
    )
    env = {"FLOE_STORAGE__REGION": "eu-central-1", "AWS_SECRET_ACCESS_KEY": "hidden-value",
           "FLOE_CATALOG__URI": "postgresql://cat:uri-pass@db/cat"}  # fmt: skip
    code, found = report(env, "--show-config", "--config", str(config), "--timeout", "postgres=9")
    rows = {row["setting"]: (row["value"], row["source"]) for row in found["settings"]}
    assert code == 0
    assert rows["storage.bucket"] == ("from-file", f"{config} [preflight] storage.bucket")
    assert rows["storage.region"] == ("eu-central-1", "environment FLOE_STORAGE__REGION")
    assert rows["storage.secret_access_key"] == ("**********", "environment AWS_SECRET_ACCESS_KEY")
    assert rows["catalog.uri"] == ("postgresql://cat:***@db/cat", "environment FLOE_CATALOG__URI")
    assert rows["timeout"] == ("7.0", f"{config} [preflight] timeout")
    assert rows["timeouts.postgres"] == ("9.0", "flag --timeout")
    assert rows["postgres.port"] == ("5432", "default")


@pytest.mark.requirement("007-FR-044", evidence="real")
def test_list_shows_the_checks_and_their_prerequisites() -> None:
    code, found = report({}, "--list")
    checks = {row["check"]: row for row in found["checks"]}
    assert code == 0
    assert list(checks) == ["compute", "storage", "catalog", "postgres", "platform"]
    assert checks["catalog"]["prerequisites"] == "storage (rest catalogs)"
    assert "FLOE_POSTGRES__HOST" in checks["postgres"]["needs"]


@pytest.mark.requirement("007-FR-044", evidence="real")
def test_config_file_is_read(tmp_path: Path, local_postgres: PostgresEndpoint) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        f"[preflight.postgres]\nhost = '127.0.0.1'\nport = {local_postgres.port}\nuser = '{local_postgres.user}'\n"
        f"database = '{local_postgres.database}'\n"
    )
    code, found = results(
        {"POSTGRES_PASSWORD": local_postgres.password},
        "--check",
        "postgres",
        "--config",
        str(config),
    )
    assert code == 0, found


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_failures_carry_kind_endpoint_setting_and_docs(local_postgres: PostgresEndpoint) -> None:
    code, found = report(
        pg_env(local_postgres, FLOE_POSTGRES__DATABASE="absent"), "--check", "postgres"
    )
    assert code == 3
    (postgres,) = found["results"]
    assert found["schema_version"] == 2
    assert {key: postgres[key] for key in ("kind", "endpoint", "setting", "docs")} == {
        "kind": "database_missing", "endpoint": f"127.0.0.1:{local_postgres.port}/absent",
        "setting": "FLOE_POSTGRES__DATABASE", "docs": "docs/06-deployment-view.md#preflight-database-missing",
    }  # fmt: skip


@pytest.mark.requirement("007-FR-044", evidence="real")
def test_progress_while_checks_run(local_postgres: PostgresEndpoint) -> None:
    """The runner reports each check loading, probing and done; a terminal shows them as they end."""
    events: list[Progress] = []
    settings = PreflightSettings.model_validate(
        {"postgres": {"host": "127.0.0.1", "port": local_postgres.port, "user": local_postgres.user,
                      "database": local_postgres.database, "password": local_postgres.password}}
    )  # fmt: skip
    run_preflight(settings, ["compute", "postgres"], on_progress=events.append)
    for check in ("compute", "postgres"):
        assert [e.state for e in events if e.check == check] == ["loading", "probing", "done"]
    console = Console(force_terminal=True, width=120, record=True)
    with progress(console) as show:
        assert show is not None
        run_preflight(settings, ["compute", "postgres"], on_progress=show)
    text = console.export_text()
    assert "compute: ok" in text
    assert "postgres: ok" in text


@pytest.mark.requirement("007-FR-035", evidence="real")
def test_lines_stream_each_check_as_it_ends(local_postgres: PostgresEndpoint) -> None:
    with silent_socket() as port:
        env = pg_env(local_postgres, FLOE_POSTGRES__PORT=str(port))
        code, output = preflight(
            env, "--check", "postgres", "--check", "compute", "--timeout", "1", "--format", "lines"
        )
    lines = output.strip().splitlines()
    assert code == 3
    assert lines[0].startswith("[COMPUTE] OK")
    assert lines[1].startswith("[POSTGRES] ERROR: no answer from")
