"""CubeClient speaks Cube's REST protocol: HS256 JWT in Authorization, polling on 'Continue wait'.

A local HTTP server plays Cube's `/cubejs-api/v1/load` here (verifying the token with the API
secret, as Cube does); the compose demo's e2e queries a real Cube.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jwt
import pytest

from floe_demo.cube import CubeClient, CubeError
from floe_deploy.testing.protocol_servers import JsonHandler, serve

pytestmark = pytest.mark.requirement("007-FR-028", evidence="stand-in")
SECRET = "cube-api-secret"


class FakeCube(JsonHandler):
    waits_left = 2

    def do_POST(self) -> None:
        body = json.loads(self.body())
        try:
            jwt.decode(self.headers.get("Authorization", ""), SECRET, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            self.reply(403, {"error": "Invalid token"})
            return
        if FakeCube.waits_left:
            FakeCube.waits_left -= 1
            self.reply(200, {"error": "Continue wait"})
            return
        assert body["query"] == {"measures": ["Orders.count"]}
        self.reply(200, {"data": [{"Orders.count": "42"}]})


@pytest.fixture
def cube_url() -> Iterator[str]:
    FakeCube.waits_left = 2
    with serve(FakeCube) as url:
        yield url


def test_count_after_continue_wait(cube_url: str) -> None:
    assert CubeClient(cube_url, SECRET).order_count() == 42


def test_wrong_secret_is_an_error(cube_url: str) -> None:
    with pytest.raises(CubeError, match="403: Invalid token"):
        CubeClient(cube_url, "wrong").order_count()


def test_token_expires() -> None:
    claims = jwt.decode(
        CubeClient("http://x", SECRET).token(ttl_seconds=60), SECRET, algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == 60
