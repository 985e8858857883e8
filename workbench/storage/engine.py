"""Database engine: any SQLAlchemy URL; SQLite gets WAL, a busy timeout and foreign keys.

A SQLite file this user cannot write (the file or its folder read-only) is opened read-only: reading
commands work, writing ones are refused in one line naming the file (``make_engine(write=True)``).

Writers keep transactions short and never hold one across a network call, so many processes can
share one SQLite file. Schema changes are small named migrations (:mod:`workbench.storage.migrations`).
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def _sqlite_read_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def cannot_write(path: Path) -> str | None:
    """Why this user cannot write the SQLite file at ``path`` (None when it can).

    SQLite writes its journal (``-wal``, ``-shm``) beside the file, so a read-only folder makes the
    database read-only too. Checked with ``os.access``: the file's mode, the folder's, and for root
    an immutable file (``chattr +i``).
    """
    if path.exists():
        if not os.access(path, os.W_OK):
            return "the file is read-only for this user"
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return f"its folder {path.parent} is read-only for this user (SQLite keeps its journal there)"
        return None
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is read-only for this user"
    return None


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (None for memory, URI filenames and other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:") or parsed.query.get("uri"):
        return None  # the URL says how to open it (e.g. ``?mode=ro``): as written
    return Path(parsed.database).expanduser().absolute()


def read_only_url(path: Path) -> str:
    """A SQLite URL that opens ``path`` read-only.

    With its folder read-only and no ``-wal`` file beside it (no writer has it open; the file holds
    everything), SQLite cannot create the shared-memory file a WAL database needs even to read, so
    it is opened ``immutable`` (a snapshot: a writer starting meanwhile is not seen).
    """
    query = "mode=ro"
    wal = path.with_name(path.name + "-wal")
    if not os.access(path.parent, os.W_OK | os.X_OK) and not wal.exists():
        query += "&immutable=1"
    return f"sqlite:///file:{quote(str(path))}?{query}&uri=true"


def is_read_only(engine: Engine) -> bool:
    """Whether ``engine`` was opened read-only (see :func:`make_engine`)."""
    return engine.dialect.name == "sqlite" and engine.url.query.get("mode") == "ro"


def make_engine(url: str, migrate: bool = True, write: bool = False) -> Engine:
    """An engine for ``url``, with the schema created or upgraded when ``migrate``.

    A SQLite file this user cannot write is opened read-only, unless ``write`` (a command that
    stores something), which is then refused in one line naming the file; a read-only database
    whose schema is older than this code's is refused in one line (it cannot be upgraded).
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise InputError(f"WORKBENCH_DATABASE_URL is not a database URL: {redact_url(url)}") from None
    where = redact_url(url)
    path = _sqlite_file(url)
    why = cannot_write(path) if path is not None else None
    if path is not None and why is not None:
        if write or not path.exists():
            doing = "write" if path.exists() else "create"
            raise InputError(f"cannot {doing} the database {path}: {why}")
        engine = create_engine(
            read_only_url(path), connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_read_pragmas)
        if migrate:
            _check_schema_read_only(engine, path, why)
        return engine
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


def _check_schema_read_only(engine: Engine, path: Path, why: str) -> None:
    from workbench.storage.migrations import pending

    try:
        missing = pending(engine)
    except (OperationalError, InterfaceError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InputError(f"cannot read the database {path} ({why}): {reason}") from None
    if missing:
        raise InputError(
            f"the database {path} is older than this workbench ({len(missing)} schema upgrade(s) pending) and "
            f"cannot be upgraded: {why}; open it once with write access (any command) to upgrade it"
        )


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session for a read-then-write transaction.

    On SQLite it takes the write lock first (``BEGIN IMMEDIATE``, waiting out the busy timeout): a
    deferred transaction that reads and then writes fails at once with "database is locked" when
    another process wrote in between, which the busy timeout cannot help.
    """
    if is_read_only(engine):
        raise InputError(f"cannot write the database {engine.url.database}: it is read-only for this user")
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


def insert_ignore(table: Any, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (request_key) DO NOTHING`` into ``table`` on SQLite and PostgreSQL
    (executemany form): a row another process stored first is kept."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=["request_key"])
