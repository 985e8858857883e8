"""Repository functions: the only code that writes SQL for prompts, data sets, runs and responses.

Every function takes an engine and opens its own short session, so callers never hold a
transaction across a network call. Read functions return plain objects or pandas DataFrames,
which makes the same calls useful from the CLI, the UI and a notebook.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, case, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from workbench.datasets import Sample as SampleRow
from workbench.datasets import SampleSet
from workbench.errors import InputError
from workbench.processes import worker_id
from workbench.promptfile import PromptFile, parse_prompt
from workbench.storage import charges
from workbench.storage.engine import is_read_only, write_session
from workbench.storage.liveness import is_live
from workbench.storage.models import Dataset, PromptVersion, Response, Run, RunItem, Sample, utcnow

if TYPE_CHECKING:
    import pandas as pd

CHUNK = 500
ACTIVE = ("pending", "running")


# --- prompt versions -------------------------------------------------------------------------


def save_prompt_version(
    engine: Engine, prompt: PromptFile, note: str = "", created_by: str | None = None
) -> PromptVersion:
    """Store a prompt version; the same name and content returns the existing row."""
    with write_session(engine) as session:
        found = session.exec(
            select(PromptVersion).where(
                PromptVersion.name == prompt.name, PromptVersion.content_hash == prompt.content_hash
            )
        ).first()
        if found:
            return found[0]
        row = PromptVersion(
            name=prompt.name, content_hash=prompt.content_hash, yaml=prompt.to_yaml(), note=note, created_by=created_by
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return save_prompt_version(engine, prompt, note, created_by)
        session.refresh(row)
        return row


def find_prompt_version(engine: Engine, prompt: PromptFile) -> int | None:
    """The id of the stored version with ``prompt``'s name and content, or None (nothing is stored)."""
    with Session(engine) as session:
        found = session.exec(
            select(PromptVersion.id).where(
                PromptVersion.name == prompt.name, PromptVersion.content_hash == prompt.content_hash
            )
        ).first()
    return None if found is None else int(found[0])


def get_prompt_version(engine: Engine, version_id: int) -> tuple[PromptVersion, PromptFile]:
    with Session(engine) as session:
        row = session.get(PromptVersion, version_id)
        if row is None:
            raise InputError(f"no prompt version {version_id}")
        return row, parse_prompt(row.yaml, f"prompt version {version_id}")


def list_prompt_versions(engine: Engine, name: str | None = None, created_by: str | None = None) -> pd.DataFrame:
    """Versions newest first, with a per-name version number (1 = oldest)."""
    import pandas as pd

    query = select(PromptVersion)
    if name:
        query = query.where(PromptVersion.name == name)
    if created_by:
        query = query.where(PromptVersion.created_by == created_by)
    with Session(engine) as session:
        rows = [r[0] for r in session.exec(query.order_by(PromptVersion.id))]
    frame = pd.DataFrame(
        [
            {
                "id": r.id,
                "name": r.name,
                "note": r.note,
                "hash": r.content_hash[:10],
                "created_at": r.created_at,
                "created_by": r.created_by,
            }
            for r in rows
        ],
        columns=["id", "name", "note", "hash", "created_at", "created_by"],
    )
    frame["version"] = frame.groupby("name").cumcount() + 1 if len(frame) else pd.Series(dtype=int)
    return frame.iloc[::-1].reset_index(drop=True)


def version_labels(engine: Engine, version_ids: list[int], note_chars: int = 40) -> dict[int, str]:
    """How a prompt version is named wherever a cell is named: ``name v2``, ``name v2 · its note``.

    The number counts the versions of that name in the order they were stored (1 = oldest), as the
    Prompts page and ``list_prompt_versions`` number them; a long note is cut to ``note_chars``.
    """
    if not version_ids:
        return {}
    with Session(engine) as session:
        query = select(PromptVersion).where(PromptVersion.id.in_(version_ids))  # type: ignore[union-attr]
        wanted = [row[0] for row in session.exec(query)]
        names = {v.name for v in wanted}
        same_name = session.exec(
            select(PromptVersion.id, PromptVersion.name).where(PromptVersion.name.in_(names))  # type: ignore[attr-defined]
        ).all()
    labels = {}
    for v in wanted:
        number = sum(1 for other_id, name in same_name if name == v.name and other_id <= v.id)
        note = " ".join(v.note.split())
        if len(note) > note_chars:
            note = note[: note_chars - 1].rstrip() + "…"
        labels[int(v.id)] = f"{v.name} v{number}" + (f" · {note}" if note else "")
    return labels


# --- data sets -------------------------------------------------------------------------------


def save_dataset(
    engine: Engine, samples: SampleSet, source: str | None = None, created_by: str | None = None
) -> Dataset:
    """Store a sample set; the same content returns the existing data set."""
    digest = samples.content_hash
    with write_session(engine) as session:
        found = session.exec(select(Dataset).where(Dataset.content_hash == digest)).first()
        if found:
            return found[0]
        row = Dataset(
            name=samples.name,
            content_hash=digest,
            label_column=samples.label_column,
            columns_json=json.dumps(list(samples.columns)),
            n_rows=len(samples),
            source=source,
            created_by=created_by,
        )
        session.add(row)
        try:
            session.flush()
            session.add_all(
                Sample(
                    dataset_id=row.id,
                    idx=s.index,
                    row=s.row,
                    label=s.label,
                    variables_json=json.dumps(s.variables, ensure_ascii=False),
                )
                for s in samples.samples
            )
            session.commit()
        except IntegrityError:
            session.rollback()
            return save_dataset(engine, samples, source, created_by)
        session.refresh(row)
        return row


def find_dataset(engine: Engine, samples: SampleSet) -> int | None:
    """The id of the stored data set with ``samples``' content, or None (nothing is stored)."""
    with Session(engine) as session:
        found = session.exec(select(Dataset.id).where(Dataset.content_hash == samples.content_hash)).first()
    return None if found is None else int(found[0])


def load_dataset(engine: Engine, dataset_id: int) -> SampleSet:
    with Session(engine) as session:
        row = session.get(Dataset, dataset_id)
        if row is None:
            raise InputError(f"no data set {dataset_id}")
        samples = session.exec(select(Sample).where(Sample.dataset_id == dataset_id).order_by(Sample.idx)).all()
        return SampleSet(
            name=row.name,
            label_column=row.label_column,
            columns=tuple(json.loads(row.columns_json)),
            samples=tuple(SampleRow(s[0].idx, s[0].label, json.loads(s[0].variables_json), s[0].row) for s in samples),
        )


def list_datasets(engine: Engine, created_by: str | None = None) -> pd.DataFrame:
    import pandas as pd

    query = select(Dataset).order_by(Dataset.id.desc())
    if created_by:
        query = query.where(Dataset.created_by == created_by)
    with Session(engine) as session:
        rows = [r[0] for r in session.exec(query)]
    return pd.DataFrame(
        [
            {
                "id": r.id,
                "name": r.name,
                "rows": r.n_rows,
                "label_column": r.label_column,
                "source": r.source,
                "created_at": r.created_at,
                "created_by": r.created_by,
            }
            for r in rows
        ],
        columns=["id", "name", "rows", "label_column", "source", "created_at", "created_by"],
    )


def rename_dataset(engine: Engine, dataset_id: int, name: str) -> None:
    with Session(engine) as session:
        session.exec(update(Dataset).where(Dataset.id == dataset_id).values(name=name))
        session.commit()


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    prompt_version_id: int
    sample_idx: int
    model: str
    temperature: float | None
    repeat: int
    request_key: str
    reasoning_effort: str | None = None


def reasoning_history(engine: Engine) -> dict[tuple[str, str | None], float]:
    """Mean reasoning tokens per stored answer, by (model, effort sent); only answers that reported them."""
    query = (
        select(Response.model, Response.reasoning_effort, func.avg(Response.reasoning_tokens))
        .where(Response.reasoning_tokens.is_not(None))  # type: ignore[union-attr]
        .group_by(Response.model, Response.reasoning_effort)
    )
    with engine.connect() as conn:
        return {(model, effort): float(mean) for model, effort, mean in conn.execute(query) if mean is not None}


def create_run(engine: Engine, run: Run, items: Sequence[NewItem]) -> Run:
    """Insert a run and all its items in one transaction."""
    with Session(engine) as session:
        run.total_items = len(items)
        session.add(run)
        session.flush()
        session.execute(
            RunItem.__table__.insert(),
            [
                {
                    "run_id": run.id,
                    "prompt_version_id": i.prompt_version_id,
                    "sample_idx": i.sample_idx,
                    "model": i.model,
                    "temperature": i.temperature,
                    "reasoning_effort": i.reasoning_effort,
                    "repeat": i.repeat,
                    "request_key": i.request_key,
                    "reused": False,
                    "attempts": 0,
                }
                for i in items
            ],
        )
        session.commit()
        session.refresh(run)
        return run


def get_run(engine: Engine, run_id: int) -> Run:
    with Session(engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise InputError(f"no run {run_id} (see `python -m workbench runs`)")
        session.expunge(run)
        return run


def mark_running(engine: Engine, run_id: int) -> None:
    """A run (re)starts in this process: running, no error, not cancelled, this process its worker."""
    now = utcnow()
    update_run(
        engine,
        run_id,
        status="running",
        error=None,
        started_at=now,
        heartbeat_at=now,
        cancel_requested=False,
        worker=worker_id(),
        finished_at=None,
    )


def update_run(engine: Engine, run_id: int, **values: object) -> None:
    with Session(engine) as session:
        session.execute(update(Run).where(Run.id == run_id).values(**values))
        session.commit()


def find_unfinished_run(engine: Engine, plan_hash: str) -> Run | None:
    """The newest run of this exact plan that did not complete (for resuming)."""
    with Session(engine) as session:
        row = session.exec(
            select(Run).where(Run.plan_hash == plan_hash, Run.status != "completed").order_by(Run.id.desc())
        ).first()
        if row is None:
            return None
        session.expunge(row[0])
        return row[0]


def run_request_keys(engine: Engine, run_id: int) -> set[str]:
    """The request keys of every item of a run (what it was planned to call)."""
    with Session(engine) as session:
        rows = session.execute(select(RunItem.request_key).where(RunItem.run_id == run_id)).all()
    return {r[0] for r in rows}


def pending_items(engine: Engine, run_id: int) -> list[tuple[int, str]]:
    """(item id, request key) of items that have no response yet."""
    with Session(engine) as session:
        rows = session.execute(
            select(RunItem.id, RunItem.request_key).where(RunItem.run_id == run_id, RunItem.response_id.is_(None))
        ).all()
    return [(r[0], r[1]) for r in rows]


def stored_keys(engine: Engine, keys: Iterable[str]) -> dict[str, int]:
    """request key -> response id for keys that already have a stored response."""
    keys = list(dict.fromkeys(keys))
    found: dict[str, int] = {}
    with Session(engine) as session:
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            for key, rid in session.execute(
                select(Response.request_key, Response.id).where(Response.request_key.in_(chunk))
            ):
                found[key] = rid
    return found


def answer_models(engine: Engine, run_id: int) -> list[tuple[str, str, int]]:
    """(model asked for, model the server named, answers) of ``run_id``'s answers that name a model."""
    query = (
        select(Response.model, Response.response_model, func.count(RunItem.id))
        .select_from(RunItem)
        .join(Response, Response.id == RunItem.response_id)
        .where(RunItem.run_id == run_id, Response.response_model.is_not(None))  # type: ignore[union-attr]
        .group_by(Response.model, Response.response_model)
    )
    with Session(engine) as session:
        return [(str(m), str(r), int(n)) for m, r, n in session.execute(query)]


def answers_marker(engine: Engine) -> tuple[int, int]:
    """(newest response id, responses): changes whenever an answer is stored or deleted."""
    with Session(engine) as session:
        newest, count = session.execute(select(func.max(Response.id), func.count(Response.id))).one()
    return int(newest or 0), int(count)


def stored_answers(engine: Engine, models: Sequence[str], endpoints: Sequence[str]) -> list[tuple[str, str, int]]:
    """(request key, request body JSON, repeat index) of the responses of ``models`` at ``endpoints``: the
    answers a plan of those may already have. The repeat is the one its run items give (keys include
    it); a response no item points at was stored by *Try it*, at repeat 0."""
    repeat = select(func.min(RunItem.repeat)).where(RunItem.request_key == Response.request_key).scalar_subquery()
    query = select(Response.request_key, Response.request_json, repeat).where(
        Response.model.in_(list(models)), Response.base_url.in_(list(endpoints))
    )
    with Session(engine) as session:
        return [(key, body, int(r or 0)) for key, body, r in session.execute(query)]


def attach_responses(engine: Engine, pairs: Sequence[tuple[int, int]], reused: bool) -> None:
    """Point items at responses: ``pairs`` of (item id, response id)."""
    if not pairs:
        return
    with Session(engine) as session:
        session.execute(
            update(RunItem),
            [{"id": item, "response_id": rid, "reused": reused, "error": None} for item, rid in pairs],
        )
        session.commit()


def delete_run(engine: Engine, run_id: int) -> None:
    """Delete a run and its items; stored responses stay available for reuse."""
    with Session(engine) as session:
        session.execute(delete(RunItem).where(RunItem.run_id == run_id))
        session.execute(delete(Run).where(Run.id == run_id))
        session.commit()


def _item_stats(session: Session, ids: list[int]) -> dict[int, tuple]:
    """Per run: items, answered, errors, cost, unknown-cost answers, and the same split into paid and reused.

    An answer is *paid* by a run when that run made the call (``responses.run_id``); any other
    answer it points to was *reused* (from an earlier run, Try it, or another process's call).
    """
    answered = Response.id.is_not(None)  # type: ignore[union-attr]
    paid = answered & (func.coalesce(Response.run_id, -1) == RunItem.run_id)
    reused = answered & (func.coalesce(Response.run_id, -1) != RunItem.run_id)
    unknown = Response.cost_usd.is_(None)  # type: ignore[union-attr]
    stats: dict[int, tuple] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(
                RunItem.run_id,
                func.count(RunItem.id),
                func.count(RunItem.response_id),
                func.count(RunItem.error),
                func.sum(Response.cost_usd),
                func.count(Response.id) - func.count(Response.cost_usd),
                func.sum(case((paid, Response.cost_usd), else_=0.0)),
                func.sum(case((paid & unknown, 1), else_=0)),
                func.sum(case((reused, Response.cost_usd), else_=0.0)),
                func.sum(case((reused & unknown, 1), else_=0)),
            )
            .select_from(RunItem)
            .outerjoin(Response, Response.id == RunItem.response_id)
            .where(RunItem.run_id.in_(ids[start : start + CHUNK]))  # type: ignore[attr-defined]
            .group_by(RunItem.run_id)
        ).all()
        stats.update({r[0]: tuple(r[1:]) for r in rows})
    # Calls paid for whose answer was refused as malformed: spent by the run, though nothing was stored.
    for run_id, (usd, _n, n_unknown) in charges.by_run(session, ids).items():
        row = list(stats.get(run_id, (0, 0, 0, None, 0, None, 0, None, 0)))
        row[3] = (row[3] or 0.0) + usd
        row[4] = (row[4] or 0) + n_unknown
        row[5] = (row[5] or 0.0) + usd
        row[6] = (row[6] or 0) + n_unknown
        stats[run_id] = tuple(row)
    return stats


def _money(
    spent: float | None, spent_unknown: int, reused: float | None, reused_unknown: int
) -> dict[str, float | None]:
    return {
        "spent_usd": float(spent or 0.0) if not spent_unknown else None,  # None: some new call's price is unknown
        "reused_usd": float(reused or 0.0) if not reused_unknown else None,
    }


def run_money(engine: Engine, run_id: int) -> dict[str, float | None]:
    """What a run paid for (its new calls) and what the answers it reused had cost: ``spent_usd``, ``reused_usd``."""
    with Session(engine) as session:
        stats = _item_stats(session, [run_id]).get(run_id, (0, 0, 0, None, 0, None, 0, None, 0))
    return _money(*stats[5:])


def list_runs(engine: Engine, created_by: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Runs newest first with their progress and cost (computed, not stored).

    ``cost_usd`` is what every answer of the run cost; ``spent_usd`` what the run paid for (its new
    calls) and ``reused_usd`` what the answers it reused had cost when first paid (None: some price
    unknown), so a re-run that made no call shows $0 spent.
    """
    import pandas as pd

    query = select(Run).order_by(Run.id.desc())
    if created_by:
        query = query.where(Run.created_by == created_by)
    if limit:
        query = query.limit(limit)
    columns = [
        "id",
        "name",
        "status",
        "prompt",
        "dataset",
        "models",
        "efforts",
        "temperatures",
        "repeats",
        "calls",
        "answered",
        "errors",
        "cost_usd",
        "cost_known",
        "spent_usd",
        "reused_usd",
        "created_at",
        "finished_at",
        "created_by",
        "error",
        "key_kind",
        "delivery",
    ]
    with Session(engine) as session:
        runs = [r[0] for r in session.exec(query)]
        if not runs:
            return pd.DataFrame(columns=columns)
        ids = [r.id for r in runs]
        stats = _item_stats(session, ids)
        datasets = dict(session.execute(select(Dataset.id, Dataset.name)).all())
        prompt_names, efforts = {}, {}
        for run in runs:
            plan = json.loads(run.plan_json)
            prompt_names[run.id] = ", ".join(dict.fromkeys(p["name"] for p in plan.get("prompts", [])))
            efforts[run.id] = ", ".join(plan.get("efforts") or [])  # empty: each model's default
    records = []
    for run in runs:
        total, answered, errors, cost, unknown, spent, spent_unknown, reused, reused_unknown = stats.get(
            run.id, (0, 0, 0, None, 0, None, 0, None, 0)
        )
        records.append(
            {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "prompt": prompt_names[run.id],
                "dataset": datasets.get(run.dataset_id, "?"),
                "models": ", ".join(json.loads(run.models_json)),
                "efforts": efforts[run.id],
                "temperatures": ", ".join(str(t) for t in json.loads(run.temperatures_json)),
                "repeats": run.repeats,
                "calls": total,
                "answered": answered,
                "errors": errors,
                "cost_usd": float(cost) if cost is not None else 0.0,
                "cost_known": unknown == 0,
                **_money(spent, spent_unknown, reused, reused_unknown),
                "created_at": run.created_at,
                "finished_at": run.finished_at,
                "created_by": run.created_by,
                "error": run.error,
                "key_kind": run.key_kind,
                "delivery": run.delivery or "standard",
            }
        )
    return pd.DataFrame(records, columns=columns)


def paid_by_model(engine: Engine, run_id: int) -> list[tuple[str, float | None]]:
    """(model, USD) of the answers ``run_id`` paid for; None when any of a model's costs is unknown."""
    with Session(engine) as session:
        rows = session.execute(
            select(Response.model, func.sum(Response.cost_usd), func.count(Response.id) - func.count(Response.cost_usd))
            .where(Response.run_id == run_id)
            .group_by(Response.model)
        ).all()
    return [(r[0], None if r[2] else float(r[1] or 0.0)) for r in rows]


def spend_per_day(engine: Engine, created_by: str | None = None) -> pd.DataFrame:
    """New spend per day (responses paid for, by the day they arrived)."""
    import pandas as pd

    query = select(Response.created_at, Response.cost_usd)
    if created_by:
        query = query.join(Run, Run.id == Response.run_id).where(Run.created_by == created_by)
    with Session(engine) as session:
        rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=["created_at", "cost_usd"])
    if frame.empty:
        return pd.DataFrame(columns=["day", "cost_usd", "calls"])
    frame["day"] = pd.to_datetime(frame["created_at"]).dt.strftime("%Y-%m-%d")
    return frame.groupby("day", as_index=False).agg(cost_usd=("cost_usd", "sum"), calls=("cost_usd", "size"))


# --- results ---------------------------------------------------------------------------------


def run_progress(engine: Engine, run_id: int) -> dict[str, int | float | None]:
    """Counts for a progress bar, computed from the database (works across processes)."""
    with Session(engine) as session:
        total, answered, errors, reused = session.execute(
            select(
                func.count(RunItem.id),
                func.count(RunItem.response_id),
                func.count(RunItem.error),
                func.sum(case((RunItem.reused, 1), else_=0)),
            ).where(RunItem.run_id == run_id)
        ).one()
        spent = session.execute(select(func.sum(Response.cost_usd)).where(Response.run_id == run_id)).scalar()
    return {"total": total, "answered": answered, "errors": errors, "reused": int(reused or 0), "spent_usd": spent}


def mark_stale_runs(engine: Engine, stale_after_s: float = 60.0) -> list[int]:
    """Runs left 'running' by a process that died become 'interrupted' (resumable).

    Nothing is written when none is stale, nor on a read-only database (they keep showing 'running').
    """
    with Session(engine) as session:
        running = [r[0] for r in session.execute(select(Run).where(Run.status == "running")).all()]
    if not any(not is_live(run, stale_after_s) for run in running) or is_read_only(engine):
        return []
    with write_session(engine) as session:
        running = [r[0] for r in session.execute(select(Run).where(Run.status == "running")).all()]
        stale = [run.id for run in running if not is_live(run, stale_after_s)]
        if stale:
            session.execute(
                update(Run)
                .where(Run.id.in_(stale))
                .values(status="interrupted", error="the worker stopped unexpectedly")
            )
            session.commit()
    return stale


def runs_with_status(engine: Engine, statuses: Sequence[str]) -> list[Run]:
    """Runs in any of ``statuses``, oldest first (for the UI's list of running sweeps)."""
    with Session(engine) as session:
        rows = [r[0] for r in session.exec(select(Run).where(Run.status.in_(list(statuses))).order_by(Run.id))]
        for row in rows:
            session.expunge(row)
    return rows


# --- spend and users (budgets, ``python -m workbench users``) ----------------------------------


def _utc_moment(moment: datetime | None) -> datetime | None:
    """Times are stored as aware UTC; a naive bound is taken as UTC."""
    if moment is None:
        return None
    from datetime import UTC

    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def spend_rows(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[str | None, str | None, float, int, int]]:
    """New spend in ``[since, until)`` by who made the paying run and which key paid.

    Rows of (run created_by, run key_kind, USD of known costs, calls, calls of unknown cost), from
    responses by the moment they arrived; a response whose run is gone counts with (None, None).
    """
    # Who paid is kept on the answer (paid_by, key_kind): deleting a run does not erase its spend.
    # Answers stored before that was recorded fall back to their run.
    payer = func.coalesce(Response.paid_by, Run.created_by)
    kind = func.coalesce(Response.key_kind, Run.key_kind)
    query = (
        select(
            payer,
            kind,
            func.sum(Response.cost_usd),
            func.count(Response.id),
            func.count(Response.id) - func.count(Response.cost_usd),
        )
        .select_from(Response)
        .outerjoin(Run, Run.id == Response.run_id)
        .group_by(payer, kind)
    )
    if since is not None:
        query = query.where(Response.created_at >= _utc_moment(since))
    if until is not None:
        query = query.where(Response.created_at < _utc_moment(until))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found = [(r[0], r[1], float(r[2] or 0.0), int(r[3]), int(r[4])) for r in rows]
    since_utc = _utc_moment(since) if since is not None else None
    until_utc = _utc_moment(until) if until is not None else None
    return found + charges.spend_rows(engine, since_utc, until_utc)  # paid attempts refused as malformed


def live_reservations(engine: Engine, exclude_run: int | None = None) -> list[tuple[str | None, str | None, float]]:
    """(maker, key kind, USD still held) of every live run holding a budget reservation.

    What a run holds is its reservation minus what it has paid since it reserved, never below 0;
    a run that finished, failed or lost its worker holds nothing.
    """
    with Session(engine) as session:
        holding = select(Run).where(Run.reserved_usd.is_not(None), Run.status.in_(("pending", "running")))
        runs = session.execute(holding).scalars().all()
        held = []
        for run in runs:
            if run.id == exclude_run or not is_live(run):
                continue
            spent_query = select(func.sum(Response.cost_usd)).where(Response.run_id == run.id)
            if run.reserved_at is not None:
                spent_query = spent_query.where(Response.created_at >= _utc_moment(run.reserved_at))
            spent = float(session.execute(spent_query).scalar() or 0.0)
            spent += charges.run_spent(session, int(run.id or 0), _utc_moment(run.reserved_at))  # paid, refused
            held.append((run.created_by, run.key_kind, max(0.0, float(run.reserved_usd or 0.0) - spent)))
    return held


def reserve(conn: Connection, run_id: int, usd: float) -> None:
    """Record what run ``run_id`` holds of the budgets from now on (inside the budget lock's transaction)."""
    conn.execute(update(Run).where(Run.id == run_id).values(reserved_usd=usd, reserved_at=utcnow()))


def user_activity(engine: Engine) -> pd.DataFrame:
    """Everyone who made something (``created_by``, None = no sign-in): counts and first/last activity."""
    import pandas as pd

    counts: dict[str | None, dict[str, object]] = {}
    with engine.connect() as conn:
        for table, column in ((Run, "runs"), (PromptVersion, "prompt_versions"), (Dataset, "datasets")):
            rows = conn.execute(
                select(
                    table.created_by, func.count(table.id), func.min(table.created_at), func.max(table.created_at)
                ).group_by(table.created_by)
            ).all()
            for user, n, first, last in rows:
                entry = counts.setdefault(
                    user, {"user": user, "runs": 0, "prompt_versions": 0, "datasets": 0, "first_seen": first,
                           "last_seen": last}
                )  # fmt: skip
                entry[column] = int(n)
                entry["first_seen"] = min((x for x in (entry["first_seen"], first) if x is not None), default=None)
                entry["last_seen"] = max((x for x in (entry["last_seen"], last) if x is not None), default=None)
    columns = ["user", "runs", "prompt_versions", "datasets", "first_seen", "last_seen"]
    frame = pd.DataFrame(list(counts.values()), columns=columns)
    return frame.sort_values("last_seen", ascending=False, kind="stable").reset_index(drop=True)
