"""Storing what a runner's calls brought back: answers, failures and the run's heartbeat, in one commit.

The runner's writer thread hands each batch of records to :func:`commit`. An answer becomes a
``responses`` row (a concurrent process may have stored the same request key: theirs is kept and
the item points at it) and its item points at it; a failure is written on its item (never cached
as a response, so a re-run retries it). Leases on the keys are released in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.engine import Engine

from workbench.providers.base import Completion
from workbench.redaction import redact
from workbench.storage import claims
from workbench.storage.engine import insert_ignore
from workbench.storage.models import Response, Run, RunItem, utcnow
from workbench.sweep import PlannedCall


@dataclass(frozen=True, slots=True)
class Answer:
    """A paid answer for one run item, waiting to be stored."""

    item_id: int
    call: PlannedCall
    completion: Completion
    price: Decimal | None  # None: the model's price is unknown
    attempts: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A run item that got no answer, with why."""

    item_id: int
    message: str
    attempts: int
    key: str


def response_row(
    key: str,
    endpoint: str,
    model: str,
    body: dict[str, Any],
    completion: Completion,
    price: Decimal | None,
    *,
    price_version: str,
    created_at: datetime,
    run_id: int | None,
    paid_by: str | None = None,
    key_kind: str | None = None,
    timed: bool = True,
) -> dict[str, Any]:
    """The ``responses`` row of one paid answer: the run's writer, Try it and a batch's collect all store
    this (``timed=False``: a batch line has no latency of its own)."""
    return {
        "request_key": key,
        "base_url": endpoint,
        "model": model,
        "request_json": json.dumps(body, ensure_ascii=False),
        "output": completion.text,
        "finish_reason": completion.finish_reason,
        "response_model": completion.response_model,
        "prompt_tokens": completion.prompt_tokens,
        "cached_tokens": completion.cached_tokens,
        "completion_tokens": completion.completion_tokens,
        "reasoning_tokens": completion.reasoning_tokens,
        "cache_write_tokens": completion.cache_write_tokens,
        "reasoning_effort": body.get("reasoning_effort"),
        "cost_usd": float(price) if price is not None else None,
        "price_version": price_version,
        "latency_ms": completion.latency_ms if timed else None,
        "ttft_ms": completion.ttft_ms if timed else None,
        "logprobs_json": completion.logprobs_json,
        "created_at": created_at,
        "run_id": run_id,
        "paid_by": paid_by,
        "key_kind": key_kind,
    }


def commit(
    engine: Engine,
    run_id: int,
    answers: list[Answer],
    failures: list[Failure],
    *,
    owner: str,
    price_version: str,
    beat: bool,
    paid_by: str | None = None,
    key_kind: str | None = None,
) -> bool:
    """Store ``answers`` and ``failures`` in one transaction; on ``beat`` refresh the heartbeat and leases.

    Returns whether the run's cancellation was requested (read on ``beat`` only).
    """
    cancel = False
    with engine.begin() as conn:
        if answers:
            _store_answers(conn, run_id, answers, owner, price_version, paid_by, key_kind)
        if failures:
            conn.execute(
                _ITEM_ERROR,
                [{"b_id": f.item_id, "error": redact(f.message)[:1000], "attempts": f.attempts} for f in failures],
            )
            claims.release(conn, (f.key for f in failures), owner)
        if beat:
            conn.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))
            claims.refresh(conn, owner)
            cancel = bool(conn.execute(select(Run.cancel_requested).where(Run.id == run_id)).scalar())
    return cancel


def _store_answers(
    conn: Connection,
    run_id: int,
    answers: list[Answer],
    owner: str,
    price_version: str,
    paid_by: str | None = None,
    key_kind: str | None = None,
) -> None:
    """Insert answers (a concurrent process may have stored the same key: keep theirs) and link items."""
    now = utcnow()
    rows = [
        response_row(
            a.call.key,
            a.call.endpoint,
            a.call.model,
            a.call.body,
            a.completion,
            a.price,
            price_version=price_version,
            created_at=now,
            run_id=run_id,
            paid_by=paid_by,
            key_kind=key_kind,
        )
        for a in answers
    ]
    conn.execute(insert_ignore(Response.__table__, conn.dialect.name), rows)
    keys = [row["request_key"] for row in rows]
    ids = dict(conn.execute(_RESPONSE_IDS, {"keys": keys}).all())
    conn.execute(
        _ITEM_ANSWER,
        [{"b_id": a.item_id, "response_id": ids[a.call.key], "attempts": a.attempts} for a in answers],
    )
    claims.release(conn, keys, owner)


def store_one(
    engine: Engine,
    key: str,
    endpoint: str,
    model: str,
    body: dict,
    completion: Completion,
    price: Decimal | None,
    *,
    price_version: str,
    paid_by: str | None,
    key_kind: str | None,
) -> int:
    """Store one answer made outside a run (Try it); returns its response id (an existing one is kept)."""
    row = response_row(
        key,
        endpoint,
        model,
        body,
        completion,
        price,
        price_version=price_version,
        created_at=utcnow(),
        run_id=None,
        paid_by=paid_by,
        key_kind=key_kind,
    )
    with engine.begin() as conn:
        conn.execute(insert_ignore(Response.__table__, conn.dialect.name), [row])
        return int(conn.execute(select(Response.id).where(Response.request_key == key)).scalar_one())


# Built once: the writer commits every few milliseconds, and building a statement costs more than running it.
_RESPONSE_IDS = select(Response.__table__.c.request_key, Response.__table__.c.id).where(
    Response.__table__.c.request_key.in_(bindparam("keys", expanding=True))
)
_ITEM_ANSWER = (
    update(RunItem.__table__)
    .where(RunItem.__table__.c.id == bindparam("b_id"))
    .values(response_id=bindparam("response_id"), attempts=bindparam("attempts"), reused=False, error=None)
)
_ITEM_ERROR = (
    update(RunItem.__table__)
    .where(RunItem.__table__.c.id == bindparam("b_id"))
    .values(error=bindparam("error"), attempts=bindparam("attempts"))
)
