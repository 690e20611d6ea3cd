"""pytest plugin: real services on loopback for the fast tests (no Docker).

PostgreSQL from Debian's packages (a throwaway cluster on a free port, removed afterwards) and
moto's S3 server. `scripts/bootstrap` installs PostgreSQL; moto comes with the dev environment.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from floe_deploy.testing import PostgresEndpoint, S3Endpoint, free_port

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _postgres_tool(name: str) -> str:
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed: run scripts/bootstrap")
    return found


def _as_postgres_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as Debian's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_cluster() -> Iterator[PostgresEndpoint]:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port> with a password user; removed after."""
    root = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    password = uuid.uuid4().hex
    port = free_port()
    pg_ctl = _postgres_tool("pg_ctl")
    subprocess.run(
        _as_postgres_user(
            [
                _postgres_tool("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres_user([
            pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        ]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        with psycopg.connect(
            host=str(sockets), port=port, user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute(f"CREATE ROLE floe LOGIN SUPERUSER PASSWORD '{password}'")
            c.execute("CREATE DATABASE floe OWNER floe")
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "reload"]), check=True, capture_output=True
        )
        yield PostgresEndpoint("127.0.0.1", port, "floe", password, "floe")
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[PostgresEndpoint]:
    """PostgreSQL from Debian's packages for the session (see postgres_cluster)."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def local_database(local_postgres: PostgresEndpoint) -> Iterator[str]:
    """A fresh database per test on the session's cluster; its name."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_postgres.dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(local_postgres.dsn(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def moto_s3() -> Iterator[S3Endpoint]:
    """moto's S3 server on 127.0.0.1:<free port>."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 (moto is slow to import)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Endpoint(f"http://127.0.0.1:{port}", "floe-test", "floe-test-secret")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_s3() -> Iterator[S3Endpoint]:
    """moto's S3 server for the session."""
    with moto_s3() as server:
        yield server


@pytest.fixture
def local_bucket(local_s3: S3Endpoint) -> str:
    """A fresh, empty bucket per test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    local_s3.client().create_bucket(Bucket=name)
    return name
