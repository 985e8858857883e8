"""Small named migrations (one mechanism, in the manner of simonw/llm).

A fresh database gets the current schema from the models and every migration marked as applied.
An existing database gets the migrations it has not seen, in order, each in its own transaction.
Add a migration by appending ``(name, function)`` to ``MIGRATIONS``; never edit an old one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
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


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_initial", m001_initial),
    ("002_run_cancel_requested", m002_run_cancel_requested),
    ("003_call_claims", m003_call_claims),
    ("004_team_settings", m004_team_settings),
]


def _ensure_table(conn: Connection) -> None:
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40))"))


def applied(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        _ensure_table(conn)
        conn.commit()
        return [row[0] for row in conn.execute(text(f"SELECT name FROM {TABLE} ORDER BY name"))]


def migrate(engine: Engine) -> list[str]:
    """Bring the schema up to date; returns the names applied now. Safe to run concurrently."""
    done_now: list[str] = []
    with engine.begin() as conn:
        _ensure_table(conn)
        fresh = not inspect(conn).has_table("runs")
    if fresh:
        try:
            with engine.begin() as conn:
                SQLModel.metadata.create_all(conn)
                for name, _ in MIGRATIONS:
                    conn.execute(
                        text(f"INSERT INTO {TABLE} (name, applied_at) VALUES (:n, CURRENT_TIMESTAMP)"), {"n": name}
                    )
            return [name for name, _ in MIGRATIONS]
        except (IntegrityError, OperationalError, ProgrammingError):
            pass  # another process created it at the same moment; fall through to the normal path
    seen = set(applied(engine))
    for name, step in MIGRATIONS:
        if name in seen:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(f"INSERT INTO {TABLE} (name, applied_at) VALUES (:n, CURRENT_TIMESTAMP)"), {"n": name}
                )
                step(conn)
            done_now.append(name)
        except IntegrityError:
            continue  # applied by a concurrent process
    return done_now
