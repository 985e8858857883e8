"""Calls paid for whose answer was refused as malformed (``refused_charges``): recorded and summed.

A server that answers HTTP 200 has billed the call, whatever the body holds. When the answer cannot
be stored (an object where the model's name belongs, a usage figure of 10^30) the call is retried,
and each refused attempt was paid: it is recorded here, from the usage it reported when that could
be read, else at the call's estimate, and counted in the run's spend and every budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from workbench.redaction import redact
from workbench.storage.models import RefusedCharge, utcnow


def record(
    engine: Engine,
    *,
    run_id: int | None,
    request_key: str,
    model: str,
    base_url: str,
    reason: str,
    usage: tuple[int | None, int | None, int | None],
    cost_usd: Decimal | None,
    estimated: bool,
    paid_by: str | None,
    key_kind: str | None,
) -> None:
    """Record one paid, refused attempt (``usage``: prompt, cached, completion tokens as reported)."""
    with Session(engine) as session:
        session.add(
            RefusedCharge(
                run_id=run_id,
                request_key=request_key,
                model=model,
                base_url=base_url,
                reason=redact(reason)[:500],
                prompt_tokens=usage[0],
                cached_tokens=usage[1],
                completion_tokens=usage[2],
                cost_usd=None if cost_usd is None else float(cost_usd),
                estimated=estimated,
                created_at=utcnow(),
                paid_by=paid_by,
                key_kind=key_kind,
            )
        )
        session.commit()


def spend_rows(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[str | None, str | None, float, int, int]]:
    """(paid by, key kind, USD of known costs, charges, charges of unknown cost) in ``[since, until)``."""
    query = select(
        RefusedCharge.paid_by,
        RefusedCharge.key_kind,
        func.sum(RefusedCharge.cost_usd),
        func.count(RefusedCharge.id),
        func.count(RefusedCharge.id) - func.count(RefusedCharge.cost_usd),
    ).group_by(RefusedCharge.paid_by, RefusedCharge.key_kind)
    if since is not None:
        query = query.where(RefusedCharge.created_at >= since)
    if until is not None:
        query = query.where(RefusedCharge.created_at < until)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(r[0], r[1], float(r[2] or 0.0), int(r[3]), int(r[4])) for r in rows]


def by_run(session: Session, run_ids: Sequence[int]) -> dict[int, tuple[float, int, int]]:
    """run id -> (USD of known costs, charges, charges of unknown cost)."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(
            RefusedCharge.run_id,
            func.sum(RefusedCharge.cost_usd),
            func.count(RefusedCharge.id),
            func.count(RefusedCharge.id) - func.count(RefusedCharge.cost_usd),
        )
        .where(RefusedCharge.run_id.in_(list(run_ids)))  # type: ignore[union-attr]
        .group_by(RefusedCharge.run_id)
    ).all()
    return {int(r[0]): (float(r[1] or 0.0), int(r[2]), int(r[3])) for r in rows}


def for_run(engine: Engine, run_id: int) -> tuple[int, float, int, int]:
    """(charges, USD of known costs, charges of unknown cost, charges at their estimate) of ``run_id``."""
    query = select(
        func.count(RefusedCharge.id),
        func.sum(RefusedCharge.cost_usd),
        func.count(RefusedCharge.id) - func.count(RefusedCharge.cost_usd),
        func.sum(case((RefusedCharge.estimated, 1), else_=0)),
    ).where(RefusedCharge.run_id == run_id)
    with engine.connect() as conn:
        n, usd, unknown, estimated = conn.execute(query).one()
    return int(n or 0), float(usd or 0.0), int(unknown or 0), int(estimated or 0)


def run_spent(session: Session, run_id: int, since: datetime | None = None) -> float:
    """USD of ``run_id``'s charges (known costs) since ``since``: part of what a live run has spent."""
    query = select(func.sum(RefusedCharge.cost_usd)).where(RefusedCharge.run_id == run_id)
    if since is not None:
        query = query.where(RefusedCharge.created_at >= since)
    return float(session.execute(query).scalar() or 0.0)
