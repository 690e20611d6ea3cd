"""Fast tests: no Docker. Real services on loopback come from the local_services plugin;
pytester runs inner pytest sessions for the plugins' own tests."""

pytest_plugins = ["pytester", "floe_deploy.testing.local_services"]
