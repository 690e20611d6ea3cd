"""The Cube image (hermetic here) serves the demo's data model over the orders_daily mart: a real
Cube answering CubeClient's signed REST queries."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import psycopg
import pytest
from tenacity import retry, stop_after_delay, wait_fixed
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from floe_demo.cube import CubeClient
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.testing.containers import start

pytestmark = [
    pytest.mark.requirement("007-FR-008", evidence="real"),
    pytest.mark.requirement("007-FR-028", evidence="real"),
]


@retry(stop=stop_after_delay(120), wait=wait_fixed(0.5), reraise=True)
def wait_for_count(client: CubeClient, expected: int) -> None:
    assert client.order_count() == expected


def test_cube_answers_orders_from_the_mart(service_image: Callable[[str], str]) -> None:
    password, api_secret = secrets.token_hex(8), secrets.token_hex(32)
    with Network() as network:
        postgres = PostgresContainer(
            service_image("postgres"), username="floe", password=password, dbname="floe"
        )
        postgres.with_network(network).with_network_aliases("postgres")
        start(postgres, "cube_postgres")
        cube = None
        try:
            with psycopg.connect(postgres.get_connection_url(driver=None)) as connection:
                connection.execute(
                    "CREATE SCHEMA marts; CREATE TABLE marts.orders_daily (day date, status text, "
                    "order_count bigint, revenue numeric(18,2), computed_at timestamptz)"
                )
                connection.execute(
                    "INSERT INTO marts.orders_daily VALUES ('2026-11-26', 'paid', 5, 100.50, now()), "
                    "('2026-11-26', 'shipped', 3, 42.00, now())"
                )
            settings = {
                "CUBEJS_DB_TYPE": "postgres", "CUBEJS_DB_HOST": "postgres", "CUBEJS_DB_PORT": "5432",
                "CUBEJS_DB_NAME": "floe", "CUBEJS_DB_USER": "floe", "CUBEJS_DB_PASS": password,
                "CUBEJS_API_SECRET": api_secret, "CUBEJS_DEV_MODE": "false",
                "CUBEJS_EXT_DB_TYPE": "postgres", "CUBEJS_EXT_DB_HOST": "postgres", "CUBEJS_EXT_DB_NAME": "floe",
                "CUBEJS_EXT_DB_USER": "floe", "CUBEJS_EXT_DB_PASS": password,
            }  # fmt: skip
            cube = (
                DockerContainer(service_image("cube"))
                .with_network(network)
                .with_exposed_ports(4000)
            )
            for key, value in settings.items():
                cube.with_env(key, value)
            cube.with_volume_mapping(
                str(PROJECT_ROOT / "helm" / "floe-dagster" / "files" / "cube" / "model"),
                "/cube/conf/model",
                "ro",
            )
            start(cube, "cube")
            client = CubeClient(f"http://127.0.0.1:{cube.get_exposed_port(4000)}", api_secret)
            wait_for_count(client, 8)
            rows = client.load(
                {
                    "measures": ["Orders.revenue"],
                    "dimensions": ["Orders.status"],
                    "order": {"Orders.status": "asc"},
                }
            )
            assert rows == [
                {"Orders.status": "paid", "Orders.revenue": "100.50"},
                {"Orders.status": "shipped", "Orders.revenue": "42.00"},
            ]
            wrong = CubeClient(client.base_url, "not-the-secret", timeout=5)
            with pytest.raises(Exception, match="403"):
                wrong.order_count()
        finally:
            if cube is not None:
                cube.stop()
            postgres.stop()
