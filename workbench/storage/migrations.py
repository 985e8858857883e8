"""Small named migrations (one mechanism, in the manner of simonw/llm).

A fresh database gets the current schema from the models and every migration marked as applied.
An existing database gets the migrations it has not seen, in order, each in its own transaction.
Add a migration by appending ``(name, function)`` to ``MIGRATIONS``; never edit an old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from workbench.storage import models

TABLE = "schema_migrations"


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def m001_initial(conn: Connection) -> None:
    """The first schema: created from the models for a fresh database."""
    SQLModel.metadata.create_all(conn)


def m002_run_cancel_requested(conn: Connection) -> None:
    """Runs can be cancelled from any session or process."""
    _add_column(conn, "runs", "cancel_requested", "BOOLEAN NOT NULL DEFAULT FALSE")


def m003_call_claims(conn: Connection) -> None:
    """Leases on request keys: concurrent identical sweeps pay for each call once."""
    models.CallClaim.__table__.create(conn, checkfirst=True)


def m004_team_settings(conn: Connection) -> None:
    """Admin-set team settings (budgets, price table overrides) as key/value text."""
    models.TeamSetting.__table__.create(conn, checkfirst=True)


def m005_reasoning(conn: Connection) -> None:
    """Reasoning effort on run items and responses; reasoning and cache-write tokens on responses."""
    _add_column(conn, "run_items", "reasoning_effort", "VARCHAR")
    _add_column(conn, "responses", "reasoning_tokens", "INTEGER")
    _add_column(conn, "responses", "cache_write_tokens", "INTEGER")
    _add_column(conn, "responses", "reasoning_effort", "VARCHAR")


def m012_spend_attribution(conn: Connection) -> None:
    """Who paid for each answer, kept on the answer (a deleted run's spend still counts for its maker),
    and what a live run holds of the budgets (``runs.reserved_usd`` since ``runs.reserved_at``)."""
    _add_column(conn, "responses", "paid_by", "VARCHAR")
    _add_column(conn, "responses", "key_kind", "VARCHAR")
    _add_column(conn, "runs", "reserved_usd", "FLOAT")
    _add_column(conn, "runs", "reserved_at", "TIMESTAMP")
    conn.execute(
        text(
            "UPDATE responses SET paid_by = (SELECT created_by FROM runs WHERE runs.id = responses.run_id), "
            "key_kind = (SELECT key_kind FROM runs WHERE runs.id = responses.run_id) "
            "WHERE run_id IS NOT NULL AND key_kind IS NULL"
        )
    )


def m013_delivery_and_batches(conn: Connection) -> None:
    """Runs record their delivery mode (standard, flex, batch); Batch API batches are recorded per run."""
    _add_column(conn, "runs", "delivery", "VARCHAR NOT NULL DEFAULT 'standard'")
    models.BatchJob.__table__.create(conn, checkfirst=True)


def m014_refused_charges(conn: Connection) -> None:
    """Calls paid for whose answer was refused as malformed: their cost counts in spend and budgets."""
    models.RefusedCharge.__table__.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_initial", m001_initial),
    ("002_run_cancel_requested", m002_run_cancel_requested),
    ("003_call_claims", m003_call_claims),
    ("004_team_settings", m004_team_settings),
    ("005_reasoning", m005_reasoning),
    ("012_spend_attribution", m012_spend_attribution),
    ("013_delivery_and_batches", m013_delivery_and_batches),
    ("014_refused_charges", m014_refused_charges),
]


LOCK_ID = 0x5EED_F00D  # the PostgreSQL advisory lock that serialises migrations


def _ensure_table(conn: Connection) -> None:
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40))"))


def _names(conn: Connection) -> list[str]:
    """Applied migrations, without creating anything (no table yet: none)."""
    if not inspect(conn).has_table(TABLE):
        return []
    return [row[0] for row in conn.execute(text(f"SELECT name FROM {TABLE} ORDER BY name"))]


def applied(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return _names(conn)


def pending(engine: Engine) -> list[str]:
    """The migrations this database has not seen yet (without changing anything)."""
    seen = set(applied(engine))
    return [name for name, _ in MIGRATIONS if name not in seen]


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One transaction that holds the database's migration lock until it commits.

    Processes starting at once against a new or old database all call :func:`migrate`; without a
    lock two of them create the same table (PostgreSQL's ``CREATE TABLE IF NOT EXISTS`` is not
    safe against that) or apply the same step. PostgreSQL takes a transaction-scoped advisory
    lock; SQLite takes its write lock up front (``BEGIN IMMEDIATE``), waiting out the busy timeout.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
        conn.commit()


def migrate(engine: Engine) -> list[str]:
    """Bring the schema up to date; returns the names applied now. Safe to run concurrently.

    An up-to-date database is recognised without taking the lock; otherwise the whole upgrade runs
    in one transaction under it, and a process that waited for another finds nothing left to do.
    """
    if set(applied(engine)) >= {name for name, _ in MIGRATIONS}:
        return []
    done_now: list[str] = []
    with _exclusive(engine) as conn:
        _ensure_table(conn)
        seen = set(_names(conn))
        fresh = not inspect(conn).has_table("runs")
        if fresh and not seen:
            SQLModel.metadata.create_all(conn)
            seen_now = [name for name, _ in MIGRATIONS]
        else:
            seen_now = []
            for name, step in MIGRATIONS:
                if name not in seen:
                    step(conn)
                    seen_now.append(name)
        for name in seen_now:
            conn.execute(text(f"INSERT INTO {TABLE} (name, applied_at) VALUES (:n, CURRENT_TIMESTAMP)"), {"n": name})
        done_now = seen_now
    return done_now
