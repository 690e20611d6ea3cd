"""The floe-dagster umbrella chart: values model, render, validation, packaging and publishing."""
