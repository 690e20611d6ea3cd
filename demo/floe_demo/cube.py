"""A small client of Cube's REST API (`/cubejs-api/v1/load`), authenticated with a signed JWT."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt


class CubeError(Exception):
    """Cube answered with an error, or not in time."""


class CubeClient:
    """Queries Cube the way its own clients do: HS256 JWT in Authorization, polling on 'Continue wait'."""

    def __init__(self, base_url: str, api_secret: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_secret = api_secret
        self.timeout = timeout

    def token(self, ttl_seconds: int = 300) -> str:
        now = int(time.time())
        return jwt.encode(
            {"iat": now, "exp": now + ttl_seconds}, self._api_secret, algorithm="HS256"
        )

    def load(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of a Cube query; waits while Cube answers 'Continue wait'.

        A loop, not tenacity: floe_demo ships in the runtime image with only what the code
        location needs, and Cube's long-poll protocol is this one loop."""
        deadline = time.monotonic() + self.timeout
        with httpx.Client(timeout=10.0) as client:
            while True:
                response = client.post(
                    f"{self.base_url}/cubejs-api/v1/load",
                    json={"query": query},
                    headers={"Authorization": self.token()},
                )
                body = response.json() if response.content else {}
                if response.status_code == 200 and body.get("error") != "Continue wait":
                    data: list[dict[str, Any]] = body.get("data", [])
                    return data
                if body.get("error") != "Continue wait":
                    raise CubeError(
                        f"Cube answered {response.status_code}: {body.get('error', response.text)}"
                    )
                if time.monotonic() > deadline:
                    raise CubeError(f"Cube did not answer within {self.timeout:.0f} s")
                time.sleep(0.2)

    def order_count(self) -> int:
        rows = self.load({"measures": ["Orders.count"]})
        return int(rows[0]["Orders.count"] or 0) if rows else 0
