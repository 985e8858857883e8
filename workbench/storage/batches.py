"""Storage of Batch API batches (``batch_jobs``): what was submitted, where it stands, what was collected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from workbench.storage.answers import response_row
from workbench.storage.engine import insert_ignore
from workbench.storage.models import BatchJob, Response, RunItem, utcnow

LIVE = ("preparing", "validating", "in_progress", "finalizing", "cancelling")


def add_job(engine: Engine, run_id: int, model: str, keys: Sequence[str]) -> BatchJob:
    """Record a batch before its file is uploaded (so a crash afterwards can find what was sent)."""
    with Session(engine) as session:
        job = BatchJob(run_id=run_id, model=model, keys_json=json.dumps(list(keys)), lines=len(keys))
        session.add(job)
        session.commit()
        session.refresh(job)
        session.expunge(job)
        return job


def update_job(engine: Engine, job_id: int, **values: object) -> None:
    with Session(engine) as session:
        session.execute(update(BatchJob).where(BatchJob.id == job_id).values(updated_at=utcnow(), **values))
        session.commit()


def jobs(engine: Engine, run_id: int, uncollected: bool = False) -> list[BatchJob]:
    """A run's batches, oldest first (``uncollected``: only those whose results are not stored yet)."""
    query = select(BatchJob).where(BatchJob.run_id == run_id)
    if uncollected:
        query = query.where(BatchJob.collected.is_(False))
    with Session(engine) as session:
        rows = [r[0] for r in session.execute(query.order_by(BatchJob.id))]
        for row in rows:
            session.expunge(row)
    return rows


def keys_of(job: BatchJob) -> list[str]:
    return list(json.loads(job.keys_json))


def progress(engine: Engine, run_id: int) -> dict[str, int]:
    """request_counts summed over a run's batches still on the server (for progress bars anywhere)."""
    live = [j for j in jobs(engine, run_id) if not j.collected]
    return {
        "batches": len(live),
        "lines": sum(j.lines for j in live),
        "completed": sum(j.completed for j in live),
        "failed": sum(j.failed for j in live),
    }


def store_answers(engine: Engine, run_id: int, answers: Sequence[tuple[Any, Any, Any]], price_version: str) -> set[str]:
    """Store (planned call, completion, price) answers and point the run's items at them.

    Keys already stored (by another run, or an earlier collect of the same file) keep their first
    answer. Returns the keys stored now (the ones this collect paid for).
    """
    if not answers:
        return set()
    now = utcnow()
    keys = [call.key for call, _, _ in answers]
    with engine.begin() as conn:
        before = set(conn.execute(select(Response.request_key).where(Response.request_key.in_(keys))).scalars().all())
        rows = [
            response_row(
                call.key,
                call.endpoint,
                call.model,
                call.body,
                completion,
                price,
                price_version=price_version,
                created_at=now,
                run_id=run_id,
                timed=False,  # a batch line has no latency of its own
            )
            for call, completion, price in answers
            if call.key not in before
        ]
        if rows:
            conn.execute(insert_ignore(Response.__table__, conn.dialect.name), rows)
        ids = dict(conn.execute(select(Response.request_key, Response.id).where(Response.request_key.in_(keys))).all())
        items = conn.execute(
            select(RunItem.id, RunItem.request_key).where(
                RunItem.run_id == run_id, RunItem.request_key.in_(keys), RunItem.response_id.is_(None)
            )
        ).all()
        if items:
            conn.execute(
                update(RunItem.__table__)
                .where(RunItem.__table__.c.id == bindparam("b_id"))
                .values(response_id=bindparam("response_id"), reused=bindparam("reused"), error=None),
                [{"b_id": item, "response_id": ids[key], "reused": key in before} for item, key in items if key in ids],
            )
    return {row["request_key"] for row in rows}


def record_errors(engine: Engine, run_id: int, errors: Sequence[tuple[str, str]]) -> int:
    """Put each (request key, message) on the run's unanswered items with that key; returns items marked."""
    if not errors:
        return 0
    marked = 0
    with engine.begin() as conn:
        for key, message in errors:
            result = conn.execute(
                update(RunItem)
                .where(RunItem.run_id == run_id, RunItem.request_key == key, RunItem.response_id.is_(None))
                .values(error=message[:1000], attempts=RunItem.attempts + 1)
            )
            marked += result.rowcount or 0
    return marked
