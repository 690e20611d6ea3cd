"""The floe demo workload: synthetic e-commerce orders through Dagster into Iceberg, a mart and Cube.

Shipped in the runtime image; configured by one CompiledArtifacts file (see `floe_demo.config`).
Never imports the build toolkit (floe_deploy).
"""
