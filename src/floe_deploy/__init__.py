"""floe-deploy: the build-and-deploy toolkit of the floe data platform."""

__version__ = "0.1.0"
