"""The compose demo: the whole platform on one machine (`invoke demo.*`)."""
