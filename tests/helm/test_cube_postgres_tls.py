"""Cube's rendered SSL variables against a real PostgreSQL that accepts only TLS (pg_hba
`hostssl`). Node plays Cube's Postgres driver: TLS on when CUBEJS_DB_SSL is true, `ssl =
{rejectUnauthorized: CUBEJS_DB_SSL_REJECT_UNAUTHORIZED}` (@cubejs-backend/base-driver's
getSslOptions), the handshake as node-postgres does it (SSLRequest, then tls.connect on the socket,
servername for a host name), the trust store from NODE_EXTRA_CA_CERTS; the Cube image is not run."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_deploy.testing import PostgresEndpoint
from floe_deploy.testing.local_services import postgres_cluster
from floe_deploy.tls import ServerTls, server_tls
from tests.helm.conftest import Renderer
from tests.helm.test_postgres_tls import container_env, postgres

pytestmark = pytest.mark.requirement("007-FR-060", evidence="stand-in")

HOSTSSL_ONLY = "hostssl all all 127.0.0.1/32 scram-sha-256"
CUBE_POSTGRES_CLIENT = r"""
const net = require('net');
const tls = require('tls');
const [host, port, user, database] = process.argv.slice(1);
const env = process.env;
const ssl = env.CUBEJS_DB_SSL === 'true'
  ? { rejectUnauthorized: env.CUBEJS_DB_SSL_REJECT_UNAUTHORIZED === 'true' } : undefined;
function startup() {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}
function converse(stream) {
  stream.once('data', (reply) => {
    const text = reply.toString('latin1');
    console.log(reply[0] === 0x52 ? 'authentication requested'
      : text.includes('no pg_hba.conf entry') ? 'no pg_hba.conf entry' : text);
    stream.destroy();
  });
  stream.write(startup());
}
const socket = net.connect({ host, port: Number(port) }, () => {
  if (!ssl) return converse(socket);
  const request = Buffer.alloc(8);
  request.writeInt32BE(8);
  request.writeInt32BE(80877103, 4);
  socket.once('data', (answer) => {
    if (answer.toString() !== 'S') { console.log('no TLS offered'); return socket.destroy(); }
    const options = { socket, ...ssl };
    if (net.isIP(host) === 0) options.servername = host;
    const secure = tls.connect(options, () => converse(secure));
    secure.on('error', (error) => { console.log(error.code); socket.destroy(); });
  });
  socket.write(request);
});
"""


HOST = "localhost"
"""A host name, as in a cluster: node-postgres sends it as the TLS server name, which Node checks."""


@pytest.fixture(scope="module")
def tls() -> ServerTls:
    return server_tls("floe-private-ca", [HOST])


@pytest.fixture(scope="module")
def tls_postgres(tls: ServerTls) -> Iterator[PostgresEndpoint]:
    with postgres_cluster(tls=tls, hba=HOSTSSL_ONLY) as server:
        yield server


@pytest.fixture(scope="module")
def misnamed() -> ServerTls:
    """A certificate from a private CA for another name than the host Cube connects to."""
    return server_tls("floe-private-ca", ["127.0.0.1"])


@pytest.fixture(scope="module")
def misnamed_postgres(misnamed: ServerTls) -> Iterator[PostgresEndpoint]:
    with postgres_cluster(tls=misnamed, hba=HOSTSSL_ONLY) as server:
        yield server


def cube_ssl_env(rendered: Renderer, sslmode: str) -> dict[str, str]:
    objects = rendered(
        artifacts={"serving": {"postgres": postgres(sslmode)}}, cube={"enabled": True}
    )
    env = container_env(objects, "Deployment", "-cube", "cube")
    return {name: value for name, value in env.items() if name.startswith("CUBEJS_DB_SSL")}


def cube_connects(server: PostgresEndpoint, env: dict[str, str]) -> str:
    found = subprocess.run(
        ["node", "-e", CUBE_POSTGRES_CLIENT, HOST, str(server.port), server.user, server.database],
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return found.stdout.strip()


def test_the_default_cannot_reach_a_tls_only_postgres(
    rendered: Renderer, tls_postgres: PostgresEndpoint
) -> None:
    """As before this change: Cube speaks plain Postgres and pg_hba refuses it."""
    assert cube_connects(tls_postgres, cube_ssl_env(rendered, "prefer")) == "no pg_hba.conf entry"


def test_require_speaks_tls_without_the_ca(
    rendered: Renderer, tls_postgres: PostgresEndpoint
) -> None:
    env = cube_ssl_env(rendered, "require")
    assert cube_connects(tls_postgres, env) == "authentication requested"


@pytest.mark.parametrize("sslmode", ["verify-ca", "verify-full"])
def test_verify_trusts_only_the_private_ca_and_the_right_host(
    rendered: Renderer,
    sslmode: str,
    tls: ServerTls,
    tls_postgres: PostgresEndpoint,
    misnamed: ServerTls,
    misnamed_postgres: PostgresEndpoint,
    tmp_path: Path,
) -> None:
    """Node checks the host name in both modes: verify-ca verifies as verify-full does."""
    env = cube_ssl_env(rendered, sslmode)
    assert cube_connects(tls_postgres, env) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    for name, pem in (("ca.crt", tls.ca), ("misnamed.crt", misnamed.ca)):
        (tmp_path / name).write_text(pem)
    with_ca = env | {"NODE_EXTRA_CA_CERTS": str(tmp_path / "ca.crt")}
    assert cube_connects(tls_postgres, with_ca) == "authentication requested"
    misnamed_ca = env | {"NODE_EXTRA_CA_CERTS": str(tmp_path / "misnamed.crt")}
    assert cube_connects(misnamed_postgres, misnamed_ca) == "ERR_TLS_CERT_ALTNAME_INVALID"
