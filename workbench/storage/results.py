"""Reading a run's results: one row per run item with its answer, parsed label, usage and cost.

The shape every figure is computed from (``workbench.metrics``), for the CLI, the UI and notebooks.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from workbench.confidence import answer_probability
from workbench.promptfile import parse_prompt
from workbench.scoring import UNPARSED, normalize, parse_label
from workbench.storage.models import Response, Run, RunItem, Sample
from workbench.storage.repository import get_prompt_version, get_run, version_labels

RESULT_COLUMNS = [
    "item_id",
    "prompt_version_id",
    "prompt_name",
    "prompt_label",
    "model",
    "reasoning_effort",
    "temperature",
    "sample_index",
    "repeat",
    "gold",
    "output",
    "predicted",
    "correct",
    "error",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "finish_reason",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "reused",
    "variables",
]


def run_labels(engine: Engine, run: Run) -> dict[int, list[str]]:
    plan = json.loads(run.plan_json)
    return {p["id"]: list(parse_prompt(get_prompt_version(engine, p["id"])[0].yaml).labels) for p in plan["prompts"]}


_ITEM_COLUMNS = [
    "item_id",
    "prompt_version_id",
    "model",
    "reasoning_effort",
    "temperature",
    "sample_index",
    "repeat",
    "output",
    "error",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "finish_reason",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "reused",
    "response_id",
]


def results_frame(engine: Engine, run_id: int) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """One row per run item with its answer, parsed label, usage and cost, plus each prompt's labels.

    Items and responses come in one query read straight from the driver's cursor; the samples
    (gold label and variables) are read once per sample and mapped onto the items. Parsing and
    gold-label spelling work on distinct values, so a run of 100,000 responses parses a handful of
    strings, not 100,000.
    """
    run = get_run(engine, run_id)
    labels = run_labels(engine, run)
    names = {p["id"]: p["name"] for p in json.loads(run.plan_json)["prompts"]}
    query = (
        select(
            RunItem.id,
            RunItem.prompt_version_id,
            RunItem.model,
            RunItem.reasoning_effort,
            RunItem.temperature,
            RunItem.sample_idx,
            RunItem.repeat,
            Response.output,
            RunItem.error,
            Response.prompt_tokens,
            Response.cached_tokens,
            Response.completion_tokens,
            Response.reasoning_tokens,
            Response.finish_reason,
            Response.cost_usd,
            Response.latency_ms,
            Response.ttft_ms,
            RunItem.reused,
            RunItem.response_id,
        )
        .select_from(RunItem)
        .outerjoin(Response, Response.id == RunItem.response_id)
        .where(RunItem.run_id == run_id)
        .order_by(RunItem.id)
    )
    samples_query = select(Sample.idx, Sample.label, Sample.variables_json).where(Sample.dataset_id == run.dataset_id)
    with engine.connect() as conn:
        rows = conn.execute(query).cursor.fetchall()
        sample_rows = conn.execute(samples_query).all()
    frame = pd.DataFrame.from_records(rows, columns=_ITEM_COLUMNS)
    gold_by_idx = {idx: label for idx, label, _ in sample_rows}
    text_by_idx = {idx: variables for idx, _, variables in sample_rows}
    frame["gold"] = frame["sample_index"].map(gold_by_idx)
    frame["variables"] = frame["sample_index"].map(text_by_idx)
    frame["prompt_name"] = frame["prompt_version_id"].map(names)
    frame["prompt_label"] = frame["prompt_version_id"].map(version_labels(engine, list(names)))
    answered = frame["response_id"].notna()
    frame["predicted"] = None
    frame["gold"] = _canonical_gold(frame, labels)
    for pv, pv_labels in labels.items():
        mask = answered & (frame["prompt_version_id"] == pv)
        outputs = frame.loc[mask, "output"]
        parsed = {text: parse_label(text, pv_labels) for text in outputs.drop_duplicates()}
        frame.loc[mask, "predicted"] = outputs.map(parsed).fillna(UNPARSED)
    frame["correct"] = answered & (frame["predicted"] == frame["gold"])
    frame["error"] = frame["error"].where(~answered, None)
    for col in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
        frame[col] = frame[col].astype("Int64")
    for col in ("cost_usd", "latency_ms", "ttft_ms", "temperature"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["reused"] = frame["reused"].astype(bool)
    return frame[RESULT_COLUMNS], labels


def _canonical_gold(frame: pd.DataFrame, labels: dict[int, list[str]]) -> pd.Series:
    """Gold labels spelled as the prompt spells them ("Positive" in the data -> "positive")."""
    gold = frame["gold"].copy()
    for pv, pv_labels in labels.items():
        forms = {normalize(label): label for label in pv_labels}
        mask = frame["prompt_version_id"] == pv
        spelled = {g: forms.get(normalize(g), g) for g in frame.loc[mask, "gold"].drop_duplicates()}
        gold.loc[mask] = frame.loc[mask, "gold"].map(spelled)
    return gold


def answer_probabilities(engine: Engine, run_id: int) -> pd.Series:
    """Per run item (index ``item_id``): its answer's probability from the stored logprobs, NaN where none.

    Only answers stored with logprobs are read (a sweep with the logprobs opt-in); the rule is
    :func:`workbench.confidence.answer_probability`.
    """
    query = (
        select(RunItem.id, Response.logprobs_json)
        .select_from(RunItem)
        .join(Response, Response.id == RunItem.response_id)
        .where(RunItem.run_id == run_id, Response.logprobs_json.is_not(None))  # type: ignore[union-attr]
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    values = {int(item): answer_probability(text) for item, text in rows}
    return pd.Series({k: (math.nan if v is None else v) for k, v in values.items()}, dtype=float, name="probability")


def sample_rows(engine: Engine, run_id: int) -> dict[int, int]:
    """Sample index -> where it came from in its file (CSV row counting the header as 1, or JSONL line)."""
    run = get_run(engine, run_id)
    with engine.connect() as conn:
        rows = conn.execute(select(Sample.idx, Sample.row).where(Sample.dataset_id == run.dataset_id)).all()
    return {int(idx): int(row or 0) for idx, row in rows}
