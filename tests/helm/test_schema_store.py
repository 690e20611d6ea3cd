"""Where the validators' schemas come from: the configured directory, else a cache filled once from
the pinned upstream sources. Upstream (GitHub) is unreachable here, so a local HTTP server serves
the same files in its place."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.helm import schemas
from floe_deploy.helm.schemas import SchemaStore
from floe_deploy.settings import load_settings
from floe_deploy.testing import free_port

pytestmark = pytest.mark.requirement("007-FR-019", evidence="plumbing")


@pytest.fixture
def upstream(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """A local server playing the CRD catalog with one schema file."""
    root = tmp_path_factory.mktemp("catalog")
    (root / "crds" / "argoproj.io").mkdir(parents=True)
    (root / "crds" / "argoproj.io" / "application_v1alpha1.json").write_text('{"type": "object"}')
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Handler, directory=str(root / "crds"))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(
        schemas, "CRD_CATALOG", f"http://127.0.0.1:{port}/{{group}}/{{kind}}_{{version}}.json"
    )
    yield requests
    server.shutdown()


def test_unconfigured_store_fetches_once_into_the_cache(
    upstream: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_SCHEMAS_DIR", raising=False)
    store = SchemaStore(load_settings(state_dir=tmp_path))
    path = store.crd_path("argoproj.io/v1alpha1", "Application")
    assert path == tmp_path / "schemas" / "crds" / "argoproj.io" / "application_v1alpha1.json"
    assert store.crd_path("argoproj.io/v1alpha1", "Application") == path
    assert upstream == ["/argoproj.io/application_v1alpha1.json"]


def test_unreachable_upstream_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        schemas,
        "CRD_CATALOG",
        f"http://127.0.0.1:{free_port()}/{{group}}/{{kind}}_{{version}}.json",
    )
    monkeypatch.delenv("FLOE_SCHEMAS_DIR", raising=False)
    store = SchemaStore(load_settings(state_dir=tmp_path))
    with pytest.raises(FloeError, match=r"fetching .* failed") as error:
        store.crd_path("bitnami.com/v1alpha1", "SealedSecret")
    assert "FLOE_SCHEMAS_DIR" in error.value.remediation


def test_a_configured_directory_is_never_bypassed(tmp_path: Path) -> None:
    store = SchemaStore(load_settings(schemas_dir=tmp_path))
    with pytest.raises(FloeError, match="is not in"):
        store.crd_path("argoproj.io/v1alpha1", "Application")
