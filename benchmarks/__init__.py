"""Benchmarks with stated goals; results as JSON under build/bench/ (`nox -s bench`)."""
