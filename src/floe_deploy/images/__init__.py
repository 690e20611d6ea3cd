"""Images: the catalog of what floe builds and uses, and the build, publish and inspect pipeline."""
