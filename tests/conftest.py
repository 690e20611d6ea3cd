"""Fast tests: no Docker. pytester runs inner pytest sessions for the plugins' own tests."""

pytest_plugins = ["pytester"]
