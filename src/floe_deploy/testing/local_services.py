"""pytest plugin: real services on loopback for the fast tests (no Docker).

PostgreSQL from Debian's packages (a throwaway cluster on a free port, removed afterwards) and
moto's S3 server. `scripts/bootstrap` installs PostgreSQL; moto comes with the dev environment.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from floe_deploy.testing import PostgresEndpoint, S3Endpoint, free_port
from floe_deploy.tls import ServerTls

HBA = "host all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256"
"""Password logins over TCP, replication (a standby's pg_basebackup) included."""
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


def _cluster_directories(prefix: str) -> tuple[Path, Path, Path]:
    """A scratch root, its data directory (not made: initdb or pg_basebackup makes it) and a
    socket directory, owned by the postgres user when running as root."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return root, data, sockets


@contextmanager
def postgres_cluster(
    *, tls: ServerTls | None = None, hba: str = HBA, settings: dict[str, str] | None = None
) -> Iterator[PostgresEndpoint]:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port> with a password user; removed after.

    tls: serve TLS with that certificate (ssl=on); hba: the pg_hba.conf rules for TCP (a local
    socket is always trusted); settings: server settings (max_connections, …)."""
    root, data, sockets = _cluster_directories("floe-pg-")
    password = uuid.uuid4().hex
    port = free_port()
    pg_ctl = _postgres_tool("pg_ctl")
    options = "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
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
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off{options}", "start",
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
        (data / "pg_hba.conf").write_text(f"local all all trust\n{hba}\n")
        if tls is not None:
            _serve_tls(data, tls)
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


def _serve_tls(data: Path, tls: ServerTls) -> None:
    """Turn ssl on with the certificate (the reload that follows applies it)."""
    for name, pem in (("server.crt", tls.cert), ("server.key", tls.key)):
        (data / name).write_text(pem)
        (data / name).chmod(0o600)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(data / name, owner.pw_uid, owner.pw_gid)
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")


@contextmanager
def postgres_standby(primary: PostgresEndpoint) -> Iterator[PostgresEndpoint]:
    """A streaming standby of `primary` (pg_basebackup -R), read-only as every replica is."""
    root, data, sockets = _cluster_directories("floe-pg-standby-")
    port = free_port()
    pg_ctl = _postgres_tool("pg_ctl")
    subprocess.run(
        _as_postgres_user([
            _postgres_tool("pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast",
            "-d", f"host={primary.host} port={primary.port} user={primary.user} password={primary.password}",
        ]),
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        _as_postgres_user([
            pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        ]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PostgresEndpoint(primary.host, port, primary.user, primary.password, primary.database)
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
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


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class SigningS3:
    """An S3 server that checks every request's signature and the signer's IAM policy."""

    endpoint: str
    bucket: str
    writer: S3Credentials
    """may list, read and write the bucket"""
    reader: S3Credentials
    """may list the bucket only"""
    session: S3Credentials
    """temporary credentials of an assumed role that may use the bucket (needs its session token)"""


def _allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


@contextmanager
def signing_s3() -> Iterator[SigningS3]:
    """moto's S3 server in its own process with IAM authentication on (`/moto-api/reset-auth`):
    unknown keys, wrong secrets, missing or wrong session tokens and missing grants are refused
    as AWS refuses them. Set up (users, role, bucket) before authentication is switched on."""
    import boto3  # noqa: PLC0415
    import httpx  # noqa: PLC0415
    from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed  # noqa: PLC0415

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        retry(
            stop=stop_after_delay(60), wait=wait_fixed(0.2), retry=retry_if_exception_type(httpx.HTTPError),
            reraise=True,
        )(lambda: httpx.get(f"{endpoint}/moto-api/", timeout=2).raise_for_status())()  # fmt: skip
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1",
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}  # fmt: skip
        iam, sts = boto3.client("iam", **setup), boto3.client("sts", **setup)
        keys = {}
        for user, actions in (("writer", ("s3:*",)), ("reader", ("s3:ListBucket",))):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="bucket", PolicyDocument=_allow(*actions))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = S3Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        trust = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
        role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]
        iam.put_role_policy(RoleName="deployer", PolicyName="bucket", PolicyDocument=_allow("s3:*"))
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="preflight")["Credentials"]
        boto3.client("s3", **setup).create_bucket(Bucket="warehouse")
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0", timeout=10).raise_for_status()
        yield SigningS3(
            endpoint, "warehouse", keys["writer"], keys["reader"],
            S3Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"]),
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def local_signing_s3() -> Iterator[SigningS3]:
    """An S3 server that checks signatures and IAM grants, for the session (see signing_s3)."""
    with signing_s3() as server:
        yield server
