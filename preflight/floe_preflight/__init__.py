"""floe-preflight: probe compute, storage, catalog and Postgres before a deployment.

Importable without Docker, Helm or Invoke: it ships in the runtime image as the `floe-preflight`
console script, so the same checks run in CI, on a laptop and inside the cluster.
"""
