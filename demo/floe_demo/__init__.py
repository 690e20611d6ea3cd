"""The floe demo workload, shipped in the runtime image (filled in by the demo workload issue)."""
