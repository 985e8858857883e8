"""Help before a sweep: which stored sample set fits a prompt, and about how long the sweep will take.

Both read the database only. The duration is an estimate from the latencies this workbench has
measured for each model (the median of its latest answers), labelled as such; a model with no
answers yet has no estimate rather than a guess.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from workbench.promptfile import PromptFile
from workbench.scoring import normalize
from workbench.storage.models import Dataset, Response, Sample

LATENCY_SAMPLE = 200  # the latest answers of a model that its typical latency is taken from


def fitting_dataset(engine: Engine, prompt: PromptFile, dataset_ids: Iterable[int] | None = None) -> int | None:
    """The newest stored sample set this prompt can run on: every ``{{variable}}`` a column and every
    gold label one of the prompt's labels; else the newest with the variables; else None."""
    wanted = set(prompt.variables)
    forms = {normalize(label) for label in prompt.labels}
    allowed = None if dataset_ids is None else set(dataset_ids)
    with engine.connect() as conn:
        sets = conn.execute(
            select(Dataset.id, Dataset.label_column, Dataset.columns_json).order_by(Dataset.id.desc())
        ).all()
        with_variables = None
        for dataset_id, label_column, columns_json in sets:
            if allowed is not None and dataset_id not in allowed:
                continue
            variables = set(json.loads(columns_json)) - {label_column}
            if not wanted <= variables:
                continue
            with_variables = with_variables or dataset_id
            labels = conn.execute(select(Sample.label).where(Sample.dataset_id == dataset_id).distinct()).scalars()
            if all(normalize(label) in forms for label in labels):
                return int(dataset_id)
    return with_variables


def typical_latency_ms(engine: Engine, models: Iterable[str]) -> dict[str, float]:
    """Median latency of each model's latest answers (models with none are left out)."""
    found: dict[str, float] = {}
    with engine.connect() as conn:
        for model in dict.fromkeys(models):
            values = conn.execute(
                select(Response.latency_ms)
                .where(Response.model == model, Response.latency_ms.is_not(None))
                .order_by(Response.id.desc())
                .limit(LATENCY_SAMPLE)
            ).scalars()
            latencies = [float(v) for v in values]
            if latencies:
                found[model] = statistics.median(latencies)
    return found


@dataclass(frozen=True)
class Duration:
    seconds: float | None  # None when no model with new calls has a measured latency
    unknown: tuple[str, ...]  # models with new calls and no measured latency (not in ``seconds``)

    def text(self) -> str:
        """``about 2 min (estimate from past answers)``, with the models it could not time."""
        if self.seconds is None:
            return "unknown until the first answers arrive (no answers from these models yet)"
        seconds = self.seconds
        when = (
            f"{seconds:.0f} s"
            if seconds < 90
            else f"{seconds / 60:.0f} min"
            if seconds < 5400
            else f"{seconds / 3600:.1f} h"
        )
        missing = f"; not counting {', '.join(self.unknown)} (no answers yet)" if self.unknown else ""
        return f"about {when} (estimate from past answers{missing})"


def estimate_duration(
    estimate: Mapping[str, Any], latency_ms: Mapping[str, float], concurrency: int, one_at_a_time: Sequence[str] = ()
) -> Duration:
    """How long the new calls of ``estimate`` (the sweep estimate) take at ``concurrency`` parallel calls.

    Models in ``one_at_a_time`` (a local llama.cpp server) answer one call at a time whatever the
    concurrency; the rest share the concurrency.
    """
    parallel = serial = 0.0
    unknown: list[str] = []
    timed = False
    for entry in estimate["models"]:
        model, calls = entry["model"], int(entry.get("new_calls", entry["calls"]))
        if calls == 0:
            continue
        if model not in latency_ms:
            unknown.append(model)
            continue
        timed = True
        work = calls * latency_ms[model] / 1000
        if model in one_at_a_time:
            serial += work
        else:
            parallel += work
    if not timed:
        return Duration(None, tuple(unknown))
    return Duration(max(parallel / max(1, concurrency), serial), tuple(unknown))
