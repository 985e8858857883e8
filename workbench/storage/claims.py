"""Leases on request keys, so that processes sweeping the same calls at once pay for each only once.

Before calling, a runner claims a batch of keys (one short transaction). A key claimed by another
live runner is deferred: when that runner stores the answer it is reused; if the other runner gives
up, dies or its lease expires, the key is claimed again. A lease is stale when it has expired, or
when its owner is a process on this host that no longer exists (so a resume after SIGKILL starts at
once). Owners refresh their leases with their heartbeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.engine import Engine

from workbench.processes import owner_dead
from workbench.storage.engine import insert_ignore
from workbench.storage.models import CallClaim, utcnow

LEASE_S = 120.0


def claim(engine: Engine, keys: Sequence[str], owner: str, lease_s: float = LEASE_S) -> set[str]:
    """Claim ``keys``; returns the ones this owner now holds."""
    if not keys:
        return set()
    now = utcnow()
    expires = now + timedelta(seconds=lease_s)
    keys = sorted(set(keys))  # one lock order for every process (PostgreSQL row locks cannot deadlock)
    with engine.begin() as conn:
        insert = insert_ignore(CallClaim.__table__, conn.dialect.name)
        conn.execute(insert, [{"request_key": k, "owner": owner, "expires_at": expires} for k in keys])
        rows = conn.execute(
            select(CallClaim.request_key, CallClaim.owner, CallClaim.expires_at).where(CallClaim.request_key.in_(keys))
        ).all()
        held = {key for key, who, _ in rows if who == owner}
        stale = [(key, who) for key, who, until in rows if who != owner and (_expired(until, now) or owner_dead(who))]
        for key, who in stale:
            # Compare-and-set on the owner seen: of two processes taking over the same stale lease
            # at once (PostgreSQL lets both read it first), only the first update matches.
            taken = conn.execute(
                update(CallClaim)
                .where(CallClaim.request_key == key, CallClaim.owner == who)
                .values(owner=owner, expires_at=expires)
            )
            if taken.rowcount == 1:
                held.add(key)
    return held


def _expired(until, now) -> bool:
    if until.tzinfo is None:
        until = until.replace(tzinfo=now.tzinfo)
    return until < now


_CLAIMS = CallClaim.__table__.c
_RELEASE = delete(CallClaim.__table__).where(
    _CLAIMS.request_key.in_(bindparam("keys", expanding=True)), _CLAIMS.owner == bindparam("owner")
)  # built once: runners release keys with every commit


def release(conn: Connection, keys: Iterable[str], owner: str) -> None:
    keys = list(keys)
    if keys:
        conn.execute(_RELEASE, {"keys": keys, "owner": owner})


def release_all(engine: Engine, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(CallClaim).where(CallClaim.owner == owner))


def refresh(conn: Connection, owner: str, lease_s: float = LEASE_S) -> None:
    conn.execute(
        update(CallClaim).where(CallClaim.owner == owner).values(expires_at=utcnow() + timedelta(seconds=lease_s))
    )


def release_keys(engine: Engine, keys: Iterable[str], owner: str) -> None:
    """Give up ``keys`` in a transaction of their own (answers found stored meanwhile)."""
    with engine.begin() as conn:
        release(conn, keys, owner)
