"""Budgets that used to leak: deleted runs, sweeps started side by side, answers without usage,
answers from another model."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV, nano_answers
from workbench import budgets, runs
from workbench import runner as runner_module
from workbench.access import User
from workbench.budgets import Budgets
from workbench.datasets import parse_csv
from workbench.errors import BudgetError
from workbench.pricing import cost
from workbench.promptfile import parse_prompt
from workbench.storage import repository as repo

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
ALICE = "alice@example.com"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_S", 0.01)


def actor(caps: Budgets = Budgets(), who: str = ALICE) -> runs.Actor:
    return runs.Actor(User(who, "member"), "server", caps)


def test_deleting_ones_runs_does_not_give_back_the_days_spend(wb, fake_server) -> None:
    prepared = runs.prepare_sweep(wb, actor(), [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0])
    launched = runs.launch(wb, prepared, runs.Inline())
    assert launched.result.status == "completed"
    spent = budgets.spent_by_user(wb.engine, ALICE)
    assert spent.calls == len(SAMPLES) and spent.usd > 0
    repo.delete_run(wb.engine, launched.run.id)
    assert budgets.spent_by_user(wb.engine, ALICE) == spent
    assert budgets.spent_by_team(wb.engine) == spent


def test_sweeps_started_side_by_side_cannot_overshoot_the_team_cap(wb, fake_server) -> None:
    """Three sweeps prepared at once (each saw nothing spent) launch at once: one fits, two are refused."""
    fake_server.latency = 0.05
    fake_server.responder = nano_answers  # label answers, as long as the estimate expects
    plans = [[0.0], [0.5], [1.0]]  # three plans with no answer in common
    one = wb.estimate(wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], plans[0], 1))["est_new_usd"]
    caps = Budgets(team_monthly_usd=one * 1.5)  # room for one sweep, not two
    prepared = [
        runs.prepare_sweep(wb, actor(caps, f"user{k}@example.com"), [PROMPT], SAMPLES, ["gpt-4.1-nano"], temps)
        for k, temps in enumerate(plans)
    ]
    assert all(p.refusal is None for p in prepared)  # each alone fits: before any launch, nothing is held
    start = threading.Barrier(len(prepared))
    results: list[object] = []

    def go(p: runs.Prepared) -> None:
        start.wait()
        try:
            results.append(runs.launch(wb, p, runs.Inline(), on_start=lambda run, _c: None).result)
        except BudgetError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(p,)) for p in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [r for r in results if isinstance(r, BudgetError)]
    assert len(refused) == 2 and all("left this month for the team" in str(r) for r in refused)
    assert fake_server.completed == len(SAMPLES)  # only one sweep paid
    assert budgets.spent_by_team(wb.engine).usd <= caps.team_monthly_usd


def test_a_finished_run_holds_nothing_any_more(wb, fake_server) -> None:
    caps = Budgets(team_monthly_usd=1.0)
    prepared = runs.prepare_sweep(wb, actor(caps), [PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0])
    runs.launch(wb, prepared, runs.Inline())
    left = budgets.remaining(wb.engine, caps, ALICE)
    assert left["team_held_by_live_runs_usd"] == 0
    assert left["team_left_month_usd"] == pytest.approx(1.0 - budgets.spent_by_team(wb.engine).usd)


def test_answers_without_usage_count_at_their_estimate_against_max_cost(wb, fake_server) -> None:
    """A server that reports no usage cannot make --max-cost meaningless: such answers count at their estimate."""
    samples = parse_csv(("text,label\n" + "".join(f"s{i:03d} fine,positive\n" for i in range(60))).encode(), "s.csv")
    fake_server.faults.extend(["no_usage"] * 1000)
    plan = wb.plan([PROMPT], samples, ["gpt-4.1-nano"], [0.0], 1)
    per_call = wb.estimate(plan)["est_new_usd"] / len(samples)
    outcome = wb.execute(wb.start(plan), plan, concurrency=1, max_cost_usd=per_call * 10.5)
    assert outcome.status == "stopped" and "budget" in (outcome.error or "")
    assert 10 <= fake_server.completed <= 12


def test_an_answer_from_another_model_is_billed_at_that_models_price(wb, fake_server) -> None:
    fake_server.faults.extend(["other_model"] * len(SAMPLES))  # a nano request answered by gpt-4.1
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    outcome = wb.execute(wb.start(plan), plan, concurrency=2)
    assert outcome.status == "completed"
    big = wb.catalog.lookup("gpt-4.1")
    nano = wb.catalog.lookup("gpt-4.1-nano")
    billed = fake_server.billed()
    expected = sum(cost(big, u["prompt_tokens"], 0, u["completion_tokens"]) for _, u, _ in billed)
    as_nano = sum(cost(nano, u["prompt_tokens"], 0, u["completion_tokens"]) for _, u, _ in billed)
    assert outcome.spent_usd == expected and expected > as_nano
    assert outcome.other_model == len(SAMPLES)
    assert len(repo.stored_keys(wb.engine, [c.key for c in plan.calls()])) == len(SAMPLES)


def test_try_it_answers_are_stored_counted_and_reused(wb, fake_server) -> None:
    from workbench import tryit
    from workbench.chat import request_body

    body = request_body(PROMPT, "gpt-4.1-nano", 0.0, SAMPLES.samples[0].variables)
    pieces: list[str] = []
    first = tryit.try_prompt(wb, body, paid_by=ALICE, key_kind="server", on_text=pieces.append)
    assert not first.reused and first.cost_usd and "".join(pieces) == first.completion.text
    again = tryit.try_prompt(wb, body, paid_by=ALICE, key_kind="server")
    assert again.reused and again.response_id == first.response_id and fake_server.completed == 1
    spent = budgets.spent_by_user(wb.engine, ALICE)
    assert spent.calls == 1 and spent.usd == pytest.approx(float(first.cost_usd))
    plan = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    assert wb.estimate(plan)["new_calls"] == len(SAMPLES) - 1  # the sweep reuses the tried call for free


def test_try_it_on_a_reasoning_model_is_the_sweep_cells_call_and_is_reused(wb, fake_server) -> None:
    from workbench import tryit

    prompt = parse_prompt(PROMPT_YAML + "params:\n  max_tokens: 5\n", "capped.yaml")
    for effort, temperature in (("none", 0.0), ("low", 0.7)):  # low takes no temperature: left out, as a sweep does
        body = tryit.body_for(
            wb, prompt, "gpt-6-luna", SAMPLES.samples[0].variables, effort=effort, temperature=temperature
        )
        assert body["reasoning_effort"] == effort and ("temperature" in body) == (effort == "none")
        tryit.try_prompt(wb, body, paid_by=ALICE, key_kind="server")
    assert all(r["status"] == 200 for r in fake_server.chat_requests())
    plan = wb.plan([prompt], SAMPLES, ["gpt-6-luna"], [0.0], 1, efforts=["none", "low"])
    assert wb.estimate(plan)["new_calls"] == 2 * len(SAMPLES) - 2  # both tried calls are the sweep's, free
