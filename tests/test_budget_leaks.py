"""Budgets that used to leak: deleted runs and sweeps started side by side."""

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
