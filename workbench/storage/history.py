"""What this database has seen that helps plan a sweep: the stored sample set that fits a prompt,
and how fast each model has answered (read only)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable

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
