"""The hermetic images keep the official images' contracts, as the upstream projects define them.
Pinned to the hermetic builds (image_source=hermetic), whatever this host would auto-detect: the
contract matters most where no registry is reachable.

- Postgres (the official image's docs): POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB make the role
  and database, /docker-entrypoint-initdb.d/*.sql and *.sh run once on a fresh data directory, and
  the server has LLVM JIT.
- Python (the official image): the standard library's optional modules are present, dbm.gnu
  included (Debian ships it apart, as python3-gdbm). tkinter is not part of the contract here:
  floe's images carry no GUI libraries."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from python_on_whales import DockerClient
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed
from testcontainers.core.container import DockerContainer

from floe_deploy.console import Console
from floe_deploy.images.build import host_platform
from floe_deploy.images.services import service_images
from floe_deploy.settings import ImageSource, load_settings
from floe_deploy.testing import run_task
from floe_deploy.testing.containers import start

pytestmark = [
    pytest.mark.requirement("007-FR-008", evidence="real"),
    pytest.mark.timeout(1800),  # a cold golden base is debootstrapped first (minutes)
]

STANDARD_LIBRARY = [
    "dbm.gnu", "dbm.ndbm", "sqlite3", "ssl", "hashlib", "lzma", "bz2", "zlib", "ctypes", "curses",
    "readline", "uuid", "_decimal", "xml.parsers.expat", "zoneinfo", "venv", "ensurepip",
]  # fmt: skip


@pytest.fixture(scope="module")
def hermetic_postgres() -> str:
    settings = load_settings(platforms=host_platform(), image_source=ImageSource.HERMETIC)
    return service_images(settings, ["postgres"], Console())["postgres"]


@pytest.fixture(scope="module")
def golden_base() -> str:
    done = run_task(
        "images.build", "--image", "python-base", "--platform", host_platform(), "--json",
        timeout=3600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (base,) = json.loads(done.stdout)["images"]
    return str(base["reference"])


@pytest.fixture
def initialised_postgres(hermetic_postgres: str, tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """The hermetic Postgres started as the official image's docs show, with two init scripts."""
    scripts = tmp_path / "initdb"
    scripts.mkdir()
    (scripts / "01-schema.sql").write_text("CREATE TABLE orders (id int PRIMARY KEY);\n")
    (scripts / "02-seed.sh").write_text(
        '#!/bin/sh\nset -e\npsql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" '
        '--dbname "$POSTGRES_DB" -c "INSERT INTO orders VALUES (42);"\n'
    )
    for script in scripts.iterdir():
        script.chmod(0o755)
    password = secrets.token_hex(12)
    container = (
        DockerContainer(hermetic_postgres)
        .with_env("POSTGRES_USER", "shop")
        .with_env("POSTGRES_PASSWORD", password)
        .with_env("POSTGRES_DB", "shopdb")
        .with_volume_mapping(str(scripts), "/docker-entrypoint-initdb.d", "ro")
        .with_exposed_ports(5432)
    )
    start(container, "initialised_postgres")
    try:
        yield "127.0.0.1", int(container.get_exposed_port(5432)), password
    finally:
        container.stop()


@retry(stop=stop_after_delay(90), wait=wait_fixed(0.5), retry=retry_if_exception_type(psycopg.OperationalError), reraise=True)  # fmt: skip
def _query(dsn: str, sql: str) -> tuple[object, ...] | None:
    with psycopg.connect(dsn, connect_timeout=5) as connection:
        return connection.execute(sql).fetchone()


def test_postgres_makes_the_role_and_database_runs_init_scripts_and_has_jit(
    initialised_postgres: tuple[str, int, str],
) -> None:
    host, port, password = initialised_postgres
    dsn = f"postgresql://shop:{password}@{host}:{port}/shopdb"
    assert _query(dsn, "SELECT id FROM orders") == (42,)
    assert _query(dsn, "SELECT current_user, current_database()") == ("shop", "shopdb")
    assert _query(dsn, "SELECT pg_jit_available()") == (True,)


def test_the_golden_base_has_the_official_python_images_standard_library(
    golden_base: str, docker: DockerClient
) -> None:
    program = (
        "import importlib, json\n"
        "missing = []\n"
        f"for name in {STANDARD_LIBRARY!r}:\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except ImportError as error:\n        missing.append(f'{name}: {error}')\n"
        "print(json.dumps(missing))\n"
    )
    output = docker.run(golden_base, ["python3", "-c", program], remove=True)
    assert json.loads(str(output)) == []
