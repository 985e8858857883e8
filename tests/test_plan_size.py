"""A plan is estimated without building its calls (issue 12, item 10).

The cell-by-cell estimate (:mod:`workbench.plan_cost`) must agree to the last figure with the
call-by-call one it replaces, stored answers included; and it must never build a call, so a plan
of millions of calls is estimated (and refused by its budget or its size) without materialising.
Speed and memory are measured in ``benchmarks/bench_plan_size.py``, not here.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench.datasets import Sample, SampleSet, parse_csv
from workbench.plan_cost import StoredAnswer
from workbench.promptfile import parse_prompt
from workbench.runs import local_actor, prepare_sweep
from workbench.sweep import Plan, build_plan, estimate

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
CAPPED = parse_prompt(PROMPT_YAML.replace("name: sentiment-test", "name: capped\nparams:\n  max_tokens: 5"), "c.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")


def _twice(samples: SampleSet) -> SampleSet:
    """The samples and a copy of each (identical texts: identical calls), with a long one."""
    copies = [Sample(len(samples) + i, s.label, s.variables, 0) for i, s in enumerate(samples.samples)]
    rows = list(samples.samples) + copies
    rows.append(Sample(len(rows), "neutral", {"text": "s99 " + "a very long review " * 400}, 0))
    return SampleSet(samples.name, samples.label_column, samples.columns, tuple(rows))


@pytest.mark.parametrize("delivery", ["standard", "batch"])
@pytest.mark.parametrize("models", [["gpt-4.1-mini", "gpt-6-luna", "gpt-5-mini"], ["gpt-4.1-nano", "not-in-catalog"]])
def test_the_cell_estimate_equals_the_call_by_call_one(wb, models: list[str], delivery: str) -> None:
    plan = build_plan(
        [(1, PROMPT), (2, CAPPED)],
        1,
        _twice(SAMPLES),
        models,
        [0.0, 0.7],
        3,
        "http://x/v1",
        wb.catalog,
        logprobs=True,
        efforts=["none", "low"] if "gpt-6-luna" in models else [],
    )
    calls = plan.calls()
    stored = calls[::7] + [c for c in calls if c.sample_idx == 2 and c.repeat == 1]  # duplicates included
    answers = [StoredAnswer(c.key, c.body, c.repeat) for c in stored]
    answers.append(StoredAnswer("not-a-planned-key", calls[0].body, 0))  # same body, another key: not stored
    answers.append(StoredAnswer(calls[1].key, calls[1].body, 5))  # a repeat the plan does not have
    history = {("gpt-6-luna", "low"): 321.0}
    by_calls = estimate(plan, calls, {c.key for c in stored}, history, delivery)
    by_cells = estimate(Plan(**_fields(plan)), history=history, delivery=delivery, answers=answers)
    assert by_cells == by_calls
    assert 0 < by_cells["stored"] < by_cells["calls"] == len(calls)


def _fields(plan: Plan) -> dict[str, object]:
    """A fresh plan with the same fields (its calls not built)."""
    names = ("prompts", "dataset_id", "samples", "models", "temperatures", "repeats", "base_url", "catalog")
    fresh = {name: getattr(plan, name) for name in names}
    fresh.update(endpoints=plan.endpoints, logprobs=plan.logprobs, efforts=plan.efforts, notes=plan.notes)
    return fresh


def test_a_large_plan_is_estimated_without_building_a_call(wb, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Plan) -> None:
        raise AssertionError("the estimate built the plan's calls")

    monkeypatch.setattr(Plan, "_build_calls", refuse)
    rows = tuple(Sample(i, "positive", {"text": f"review number {i}"}, i + 2) for i in range(30_000))
    samples = SampleSet("many.csv", "label", ("text", "label"), rows)
    models = ["gpt-4.1-mini", "gpt-4.1-nano"]
    plan = build_plan([(1, PROMPT)], 1, samples, models, [0.0, 0.7], 2, "http://x", wb.catalog)
    est = wb.estimate(plan)
    assert est["calls"] == 30_000 * 2 * 2 * 2 == plan.size and est["new_calls"] == est["calls"]
    assert est["est_total_usd"] > 0


def test_stored_answers_are_found_from_the_database(wb, fake_server) -> None:
    """A sweep's stored answers (and Try it's, at repeat 0) are counted as stored by the next estimate."""
    actor = local_actor(wb)
    first = prepare_sweep(wb, actor, [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 2)
    from workbench.runs import Inline, launch

    launch(wb, first, Inline())
    again = prepare_sweep(wb, actor, [PROMPT], SAMPLES, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.0], 3)
    est = again.estimate
    nano = est["models"][0]
    assert (nano["calls"], nano["stored"], est["models"][1]["stored"]) == (18, 12, 0)
    by_calls = estimate(again.plan, again.plan.calls(), set(wb_keys(wb)), delivery="standard")
    assert (by_calls["stored"], by_calls["est_new_usd"]) == (est["stored"], est["est_new_usd"])


def wb_keys(wb) -> list[str]:
    path = Path(str(wb.engine.url.database))
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT request_key FROM responses")]


def test_stored_answer_bodies_round_trip() -> None:
    """The estimate matches stored bodies read back from JSON (as the database holds them)."""
    plan = build_plan([(1, PROMPT)], 1, SAMPLES, ["gpt-4.1-mini"], [0.0], 1, "http://x", _catalog())
    call = plan.calls()[3]
    answer = StoredAnswer(call.key, json.loads(json.dumps(call.body, ensure_ascii=False)), 0)
    fresh = Plan(**_fields(plan))
    assert estimate(fresh, answers=[answer])["stored"] == 1


def _catalog():
    from workbench.pricing import Catalog

    return Catalog.load()


def test_the_estimate_is_remembered_until_an_answer_is_stored(wb, fake_server, monkeypatch) -> None:
    """The Sweep page estimates its plan on every rerun: the same plan is counted once."""
    from workbench import plan_cost
    from workbench.runs import Inline, launch

    counted = []
    real = plan_cost.estimate_cells
    monkeypatch.setattr(plan_cost, "estimate_cells", lambda *a, **k: counted.append(1) or real(*a, **k))
    actor = local_actor(wb)
    prepared = prepare_sweep(wb, actor, [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    first = wb.estimate(prepared.plan)
    again = prepare_sweep(wb, actor, [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    assert again.estimate == first and len(counted) == 1
    assert wb.estimate(again.plan, "batch") != first and len(counted) == 2  # another price, counted
    launch(wb, again, Inline())
    after = prepare_sweep(wb, actor, [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1).estimate
    assert len(counted) == 3 and after["stored"] == 6 and first["stored"] == 0
