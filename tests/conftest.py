"""Fast tests: no Docker. Real services on loopback come from the local_services plugin;
pytester runs inner pytest sessions for the plugins' own tests."""

import pytest

from floe_deploy.settings import Settings, load_settings

pytest_plugins = ["pytester", "floe_deploy.testing.local_services"]


@pytest.fixture(scope="session")
def helm_settings() -> Settings:
    """The toolkit's settings as a user's shell gives them (FLOE_SCHEMAS_DIR, state dir)."""
    return load_settings()
