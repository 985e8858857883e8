"""Persistence: engine, tables, migrations and repository functions."""

from workbench.storage.engine import describe, make_engine, redact_url

__all__ = ["describe", "make_engine", "redact_url"]
