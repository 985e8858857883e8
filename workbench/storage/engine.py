"""Database engine: any SQLAlchemy URL; SQLite gets WAL, a busy timeout and foreign keys.

Writers keep transactions short and never hold one across a network call, so many processes can
share one SQLite file. Schema changes are small named migrations (:mod:`workbench.storage.migrations`).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, NoSuchModuleError, OperationalError
from sqlmodel import Session, create_engine

from workbench.errors import InputError

BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Switching to WAL needs a moment of exclusive access, and SQLite answers "locked" at once
    # (without its busy handler) when another process holds the file; it is a one-time change of the
    # file, so only ask when it is not done yet, and retry briefly.
    for attempt in range(100):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05 + 0.05 * random.random())
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, migrate: bool = True) -> Engine:
    """An engine for ``url``, with the schema created or upgraded when ``migrate``."""
    try:
        parsed = make_url(url)
    except Exception:
        raise InputError(f"WORKBENCH_DATABASE_URL is not a database URL: {redact_url(url)}") from None
    where = redact_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError:
        raise InputError(f"WORKBENCH_DATABASE_URL names an unknown kind of database: {where}") from None
    except ImportError as exc:
        raise InputError(f"no database driver for {where} ({exc.name or exc}); install it with pip") from None
    except OSError as exc:
        raise InputError(f"cannot create the database folder for {where}: {exc.strerror or exc}") from None
    if migrate:
        from workbench.storage.migrations import migrate as run_migrations

        try:
            run_migrations(engine)
        except (OperationalError, InterfaceError) as exc:
            # A wrong path, host, port or password; the driver's message never holds the password.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise InputError(f"cannot open the database {where}: {reason}") from None
    return engine


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session for a read-then-write transaction.

    On SQLite it takes the write lock first (``BEGIN IMMEDIATE``, waiting out the busy timeout): a
    deferred transaction that reads and then writes fails at once with "database is locked" when
    another process wrote in between, which the busy timeout cannot help.
    """
    with Session(engine) as session:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def redact_url(url: str) -> str:
    """The URL with any password hidden, for showing to people."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def describe(engine: Engine) -> str:
    """Where the data lives, without secrets (for the sidebar and logs)."""
    return redact_url(engine.url.render_as_string(hide_password=False))
