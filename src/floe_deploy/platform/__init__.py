"""The local container platform: Docker engine, CLI plugins, arm64 emulation and a local registry."""
