"""Team settings an admin sets in the app: budgets and price table overrides, stored in the database.

A small key/value table (``team_settings``) so a shared instance keeps them across restarts and
every process sees the same figures. Values are plain text (numbers, JSON, YAML). It is never a
place for secrets: names that sound like one and values that look like an API key are refused,
because anything here is shown to admins and lands in backups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from workbench.errors import InputError
from workbench.storage.models import TeamSetting, utcnow

_SECRET_NAME = re.compile(r"api[_-]?key|secret|password|token|credential", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
MAX_VALUE_CHARS = 200_000


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    updated_at: datetime
    updated_by: str | None


def get(engine: Engine, key: str) -> str | None:
    """The stored value of ``key``, or None when it was never set (or was cleared)."""
    found = get_setting(engine, key)
    return found.value if found else None


def get_setting(engine: Engine, key: str) -> Setting | None:
    with Session(engine) as session:
        row = session.get(TeamSetting, key)
        return Setting(row.key, row.value, row.updated_at, row.updated_by) if row else None


def put(engine: Engine, key: str, value: str, updated_by: str | None = None) -> None:
    """Store ``value`` under ``key`` (insert or replace)."""
    _check(key, value)
    values = {"value": value, "updated_at": utcnow(), "updated_by": updated_by}
    for _ in range(3):
        with Session(engine) as session:
            changed = session.execute(update(TeamSetting).where(TeamSetting.key == key).values(**values)).rowcount
            if not changed:
                session.add(TeamSetting(key=key, **values))
            try:
                session.commit()
                return
            except IntegrityError:  # inserted by another process meanwhile: update it
                session.rollback()
    raise InputError(f"team setting {key!r} could not be saved (changed concurrently); try again")


def clear(engine: Engine, key: str) -> None:
    """Forget ``key`` (back to the default from secrets or environment)."""
    with Session(engine) as session:
        session.execute(delete(TeamSetting).where(TeamSetting.key == key))
        session.commit()


def all_settings(engine: Engine, prefix: str = "") -> dict[str, Setting]:
    with Session(engine) as session:
        query = select(TeamSetting).order_by(TeamSetting.key)
        if prefix:
            query = query.where(TeamSetting.key.startswith(prefix))
        rows = [r[0] for r in session.execute(query)]
    return {r.key: Setting(r.key, r.value, r.updated_at, r.updated_by) for r in rows}


def _check(key: str, value: str) -> None:
    if not key or len(key) > 100:
        raise InputError("a team setting needs a name of 1 to 100 characters")
    if _SECRET_NAME.search(key):
        raise InputError(f"team setting {key!r}: secrets are never stored; put them in secrets.toml or the environment")
    if not isinstance(value, str):
        raise InputError(f"team setting {key!r}: the value must be text")
    if len(value) > MAX_VALUE_CHARS:
        raise InputError(f"team setting {key!r}: the value is longer than {MAX_VALUE_CHARS:,} characters")
    if _KEY_LIKE.search(value):
        raise InputError(f"team setting {key!r}: the value looks like an API key; keys are never stored")
