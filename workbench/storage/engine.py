"""Database engine: any SQLAlchemy URL; SQLite gets WAL, a busy timeout and foreign keys.

Writers keep transactions short and never hold one across a network call, so many processes can
share one SQLite file. Schema changes are small named migrations (:mod:`workbench.storage.migrations`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, NoSuchModuleError, OperationalError
from sqlmodel import create_engine

from workbench.errors import InputError

BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


def redact_url(url: str) -> str:
    """The URL with any password hidden, for showing to people."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def describe(engine: Engine) -> str:
    """Where the data lives, without secrets (for the sidebar and logs)."""
    return redact_url(engine.url.render_as_string(hide_password=False))
