"""The runner against the loopback server: exact figures, retries, fatal errors, budget, reuse, cancel."""

from __future__ import annotations

import dataclasses
import socket
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from tests.conftest import LABELS, PROMPT_YAML, SAMPLES_CSV, TEST_KEY, nano_answers, truth_cells
from tests.support.fake_openai import last_user_text
from workbench import runner as runner_module
from workbench.datasets import parse_csv
from workbench.errors import BudgetError
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.models import Response, RunItem
from workbench.storage.results import results_frame

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
MODELS = ["gpt-4.1-nano", "gpt-4.1-mini"]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Backoff is exercised, just shorter; retry-after floors are left as the server says."""
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_S", 0.02)


def make_plan(wb, models=MODELS, temps=(0.0, 0.7), repeats=1, samples=SAMPLES):
    return wb.plan([PROMPT], samples, list(models), list(temps), repeats)


def run_plan(wb, plan, **options):
    options.setdefault("concurrency", 4)
    return wb.execute(wb.start(plan), plan, **options)


def stored_cells(wb, run_id):
    """Per (model, temperature) sums of what the database holds for a run."""
    frame, _ = results_frame(wb.engine, run_id)
    cells = {}
    for (model, temperature), group in frame.groupby(["model", "temperature"], dropna=False):
        answered = group[group["predicted"].notna()]
        cells[(model, None if temperature != temperature else temperature)] = {
            "n": len(answered),
            "correct": int(answered["correct"].sum()),
            "unparsed": int((answered["predicted"] == "unparsed").sum()),
            "prompt_tokens": int(answered["prompt_tokens"].sum()),
            "cached_tokens": int(answered["cached_tokens"].sum()),
            "completion_tokens": int(answered["completion_tokens"].sum()),
            "errors": int(group["error"].notna().sum()),
        }
    return cells


def response_count(wb) -> int:
    with Session(wb.engine) as session:
        return session.execute(select(func.count(Response.id))).scalar()


def test_stored_figures_equal_what_the_server_billed(wb, fake_server):
    fake_server.responder = nano_answers
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 3
    fake_server.fail_rate = 0.125
    fake_server.faults.extend(["429", "500", "429"])
    plan = make_plan(wb, repeats=2)
    outcome = run_plan(wb, plan)
    assert (outcome.status, outcome.errors, outcome.reused) == ("completed", 0, 0)
    billed = fake_server.billed()
    assert outcome.new_calls == len(billed) == 2 * 2 * len(SAMPLES) * 2
    truth = truth_cells(billed)
    stored = stored_cells(wb, outcome.run_id)
    assert set(stored) == set(truth) == {(m, t) for m in MODELS for t in (0.0, 0.7)}
    for key, cell in truth.items():
        for field in ("n", "correct", "unparsed", "prompt_tokens", "cached_tokens", "completion_tokens"):
            assert stored[key][field] == cell[field], (key, field)
        assert stored[key]["errors"] == 0
    assert outcome.spent_usd == sum(cell["cost"] for cell in truth.values())
    assert truth[("gpt-4.1-nano", 0.0)]["correct"] == 8 and truth[("gpt-4.1-nano", 0.0)]["unparsed"] == 2


def test_summary_cells_equal_the_truth(wb, fake_server):
    fake_server.responder = nano_answers
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 3
    fake_server.faults.extend(["429", "500"])
    outcome = run_plan(wb, make_plan(wb, repeats=2))
    summary = wb.summary(outcome.run_id, outcome)
    truth = truth_cells(fake_server.billed())
    assert summary["status"] == "completed" and summary["new_calls"] == 48
    assert len(summary["cells"]) == len(truth) == 4
    for cell in summary["cells"]:
        expected = truth[(cell["model"], cell["temperature"])]
        assert cell["n"] == expected["n"]
        assert cell["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
        assert cell["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-12)
        assert cell["unparsed"] == expected["unparsed"]
        assert cell["errors"] == 0
        for field in ("prompt_tokens", "cached_tokens", "completion_tokens"):
            assert cell[field] == expected[field], field
        assert cell["cost_usd"] == float(expected["cost"])
        assert cell["latency_p50_ms"] > 0 and cell["latency_p95_ms"] >= cell["latency_p50_ms"]
    total = sum(cell["cost"] for cell in truth.values())
    assert summary["spent_usd"] == float(total)
    assert summary["total_cost_usd"] == float(total)


def test_one_failure_in_eight_costs_no_cell(wb, fake_server):
    fake_server.fail_rate = 0.125
    fake_server.fail_status = 500
    outcome = run_plan(wb, make_plan(wb, repeats=2), concurrency=6)
    assert outcome.status == "completed"
    assert outcome.errors == 0
    assert outcome.new_calls == 48 == fake_server.completed
    assert fake_server.calls > fake_server.completed  # failures happened and were retried


def test_retry_after_is_honoured(wb, fake_server):
    fake_server.retry_after = 0.4
    fake_server.faults.append("429")
    outcome = run_plan(wb, make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], samples=SAMPLES.subset([0])))
    assert outcome.status == "completed"
    first, second = fake_server.chat_requests()
    assert first["status"] == 429 and second["status"] == 200
    assert second["time"] - first["time"] >= 0.4


def test_malformed_truncated_and_dropped_answers_are_retried(wb, fake_server):
    fake_server.faults.extend(["malformed", "truncated", "drop"])
    outcome = run_plan(wb, make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0]), concurrency=2)
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, len(SAMPLES))
    assert fake_server.calls == len(SAMPLES) + 3


def test_a_stall_times_out_and_is_retried(settings, fake_server):
    bench = Workbench.open(dataclasses.replace(settings, timeout=1.0))
    fake_server.stall_seconds = 10
    fake_server.faults.append("stall")
    outcome = run_plan(bench, make_plan(bench, models=["gpt-4.1-nano"], temps=[0.0], samples=SAMPLES.subset([0])))
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 1)
    assert fake_server.calls == 2


def test_an_item_that_keeps_stalling_is_an_error_on_that_item_only(settings, fake_server):
    bench = Workbench.open(dataclasses.replace(settings, timeout=1.0, max_attempts=2))
    fake_server.latency = lambda body: 10.0 if last_user_text(body).startswith("s02") else 0.0
    plan = make_plan(bench, models=["gpt-4.1-nano"], temps=[0.0])
    outcome = run_plan(bench, plan, concurrency=2)
    assert outcome.status == "stopped"
    assert "1 call(s) failed" in outcome.error and "timed out" in outcome.error and "again" in outcome.error
    assert outcome.errors == 1
    assert outcome.new_calls == len(SAMPLES) - 1
    frame, _ = results_frame(bench.engine, outcome.run_id)
    errors = frame[frame["error"].notna()]
    assert list(errors["sample_index"]) == [1]
    assert "timed out" in errors["error"].iloc[0]
    assert frame[frame["sample_index"] != 1]["predicted"].notna().all()
    # the other worker went on answering while this item stalled
    requests = fake_server.chat_requests()
    stalled = [r for r in requests if last_user_text(r["body"]).startswith("s02")]
    assert len(stalled) == 2
    others = [r for r in requests if not last_user_text(r["body"]).startswith("s02")]
    first, retry = stalled[0]["time"], stalled[1]["time"]  # a timeout (1 s) apart at least
    assert sum(1 for r in others if first < r["time"] < retry) >= 1  # answered while the item stalled
    item = [r for r in repo.pending_items(bench.engine, outcome.run_id)]
    assert len(item) == 1
    with Session(bench.engine) as session:
        attempts = session.execute(select(RunItem.attempts).where(RunItem.id == item[0][0])).scalar()
    assert attempts == 2


def test_wrong_key_stops_at_once_without_retries(settings, fake_server):
    wrong = "sk-wrong-0123456789"
    bench = Workbench.open(settings.with_key(wrong))
    outcome = run_plan(bench, make_plan(bench, repeats=2), concurrency=3)
    assert outcome.status == "failed"
    assert 1 <= fake_server.calls <= 3  # at most one request per in-flight worker
    assert all(r["status"] == 401 for r in fake_server.chat_requests())
    assert "rejected the API key" in outcome.error and "\n" not in outcome.error
    assert wrong not in outcome.error
    assert repo.get_run(bench.engine, outcome.run_id).status == "failed"


def test_unknown_model_stops_its_cells_quickly_while_others_complete(wb, fake_server):
    samples = parse_csv(
        ("text,label\n" + "".join(f"s0{i % 6 + 1} item {i},{['positive', 'negative', 'neutral'][i % 3]}\n"
                                  for i in range(30))).encode(),
        "many.csv",
    )  # fmt: skip
    plan = make_plan(wb, models=["gpt-4.1-nano-retired", "gpt-4.1-nano"], temps=[0.0], samples=samples)
    outcome = run_plan(wb, plan, concurrency=4)
    not_found = [r for r in fake_server.chat_requests() if r["status"] == 404]
    assert 1 <= len(not_found) <= 4
    assert fake_server.completed == 30
    assert outcome.status == "failed"
    assert "gpt-4.1-nano-retired" in outcome.error and "not available" in outcome.error
    cells = stored_cells(wb, outcome.run_id)
    assert cells[("gpt-4.1-nano-retired", 0.0)]["errors"] == 30
    assert cells[("gpt-4.1-nano", 0.0)]["n"] == 30 and cells[("gpt-4.1-nano", 0.0)]["errors"] == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_server_gives_up_after_the_first_calls(settings):
    bench = Workbench.open(dataclasses.replace(settings, base_url=f"http://127.0.0.1:{closed_port()}/v1"))
    attempts = []
    real = bench.provider.complete

    def counting(body, stop=None):
        attempts.append(body)
        return real(body, stop)

    bench.provider.complete = counting
    outcome = run_plan(bench, make_plan(bench, repeats=3), concurrency=4)
    assert outcome.status == "failed"
    assert "cannot connect" in outcome.error
    assert len(attempts) <= 4 * runner_module.CONNECTION_ATTEMPTS  # not one round of retries per item
    assert outcome.new_calls == 0


def test_budget_below_the_estimate_is_refused_before_any_call(wb, fake_server):
    plan = make_plan(wb)
    est = wb.estimate(plan)
    with pytest.raises(BudgetError, match="exceeds the budget") as info:
        wb.check_budget(est, est["est_new_usd"] / 2)
    assert "\n" not in str(info.value)
    wb.check_budget(est, est["est_new_usd"] * 2)
    wb.check_budget(est, None)
    assert fake_server.calls == 0


def test_budget_reached_mid_run_stops_scheduling(wb, fake_server):
    fake_server.responder = lambda body, index: "positive " * 40  # far longer than the estimate assumes
    plan = make_plan(wb, models=["gpt-4.1-mini"], temps=[0.0])
    one_call = wb.catalog.lookup("gpt-4.1-mini").output * 40 / 1_000_000
    outcome = run_plan(wb, plan, concurrency=1, max_cost_usd=float(one_call * 2))
    assert outcome.status == "stopped"
    assert "budget" in outcome.error
    assert 2 <= outcome.new_calls < len(SAMPLES)
    assert fake_server.calls == outcome.new_calls == response_count(wb)
    assert repo.get_run(wb.engine, outcome.run_id).status == "stopped"


def test_identical_rerun_makes_no_calls_and_spends_nothing(wb, fake_server):
    fake_server.responder = nano_answers
    first = run_plan(wb, make_plan(wb, repeats=2))
    calls = fake_server.calls
    second = run_plan(wb, make_plan(wb, repeats=2))
    assert second.run_id != first.run_id
    assert (second.status, second.new_calls, second.spent_usd, second.reused) == ("completed", 0, Decimal(0), 48)
    assert fake_server.calls == calls
    assert stored_cells(wb, second.run_id) == stored_cells(wb, first.run_id)
    assert wb.estimate(make_plan(wb, repeats=2))["est_new_usd"] == 0


def test_repeats_are_distinct_calls_all_stored(wb, fake_server):
    plan = make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], repeats=3)
    outcome = run_plan(wb, plan)
    assert outcome.new_calls == 3 * len(SAMPLES) == fake_server.calls == response_count(wb)
    with Session(wb.engine) as session:
        keys = session.execute(select(Response.request_key)).scalars().all()
    assert len(set(keys)) == 3 * len(SAMPLES)


def test_errors_are_never_reused(settings, fake_server):
    bench = Workbench.open(dataclasses.replace(settings, max_attempts=1))
    fake_server.faults.append("500")
    plan = make_plan(bench, models=["gpt-4.1-nano"], temps=[0.0])
    first = run_plan(bench, plan, concurrency=1)
    assert first.errors == 1 and first.new_calls == len(SAMPLES) - 1
    assert response_count(bench) == len(SAMPLES) - 1  # the error is not a response
    second = run_plan(bench, make_plan(bench, models=["gpt-4.1-nano"], temps=[0.0]), concurrency=1)
    assert (second.status, second.new_calls, second.errors) == ("completed", 1, 0)
    assert fake_server.calls == len(SAMPLES) + 1
    assert stored_cells(bench, second.run_id)[("gpt-4.1-nano", 0.0)]["n"] == len(SAMPLES)


def test_the_key_is_never_stored(wb, fake_server, tmp_path):
    fake_server.faults.extend(["500", "429"])
    run_plan(wb, make_plan(wb, repeats=2))
    wb.engine.dispose()
    files = [p for p in Path(tmp_path).glob("workbench.db*")]
    assert files
    for path in files:
        assert TEST_KEY.encode() not in path.read_bytes(), path.name


def test_cancel_stops_the_run_and_keeps_answers(wb, fake_server):
    fake_server.latency = 0.02
    cancel = threading.Event()

    def on_progress(progress):
        if progress.new_calls >= 3:
            cancel.set()

    plan = make_plan(wb, repeats=3)
    outcome = run_plan(wb, plan, concurrency=2, cancel=cancel, on_progress=on_progress)
    assert outcome.status == "cancelled"
    assert 3 <= outcome.new_calls < 72
    assert response_count(wb) == outcome.new_calls == fake_server.completed
    frame, _ = results_frame(wb.engine, outcome.run_id)
    assert frame["predicted"].notna().sum() == outcome.new_calls
    # resuming the same plan calls only what is missing
    resumed = run_plan(wb, make_plan(wb, repeats=3))
    assert resumed.run_id == outcome.run_id
    assert resumed.status == "completed"
    assert resumed.new_calls == 72 - outcome.new_calls
    assert fake_server.completed == 72


def test_labels_fixture_matches_prompt():
    assert PROMPT.labels == LABELS


def test_streamed_answers_have_the_same_exact_figures(wb, fake_server):
    fake_server.responder = nano_answers
    fake_server.faults.append("500")
    outcome = run_plan(wb, make_plan(wb, temps=[0.0]), stream=True)
    assert outcome.status == "completed"
    truth = truth_cells(fake_server.billed())
    stored = stored_cells(wb, outcome.run_id)
    for key, cell in truth.items():
        for field in ("n", "correct", "unparsed", "prompt_tokens", "completion_tokens"):
            assert stored[key][field] == cell[field], (key, field)
    frame, _ = results_frame(wb.engine, outcome.run_id)
    assert frame["ttft_ms"].notna().all()
    assert outcome.spent_usd == sum(cell["cost"] for cell in truth.values())


def test_a_model_missing_from_the_catalog_has_unknown_cost_not_zero(wb, fake_server):
    fake_server.models.append("house-llama")
    plan = make_plan(wb, models=["house-llama", "gpt-4.1-nano"], temps=[0.0])
    est = wb.estimate(plan)
    assert est["est_total_usd"] is None
    with pytest.raises(BudgetError, match="house-llama"):
        wb.check_budget(est, 1.0)
    outcome = run_plan(wb, plan)
    assert outcome.status == "completed"
    assert outcome.spent_usd is None
    summary = wb.summary(outcome.run_id, outcome)
    costs = {c["model"]: c["cost_usd"] for c in summary["cells"]}
    assert costs["house-llama"] is None and costs["gpt-4.1-nano"] > 0
    assert summary["total_cost_usd"] is None and summary["spent_usd"] is None


def test_gold_labels_spelled_differently_from_the_prompt_still_score(wb, fake_server):
    fake_server.responder = lambda body, index: "positive"
    samples = parse_csv(b"text,label\ns01 a,Positive\ns02 b,NEGATIVE\n", "caps.csv")
    outcome = run_plan(wb, make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], samples=samples))
    cells = stored_cells(wb, outcome.run_id)
    assert cells[("gpt-4.1-nano", 0.0)]["correct"] == 1


def test_a_rate_limited_server_slows_the_sweep_down_but_costs_no_cell(wb, fake_server):
    fake_server.rate_limit_rps = 5  # a bucket of 5: the first 8 concurrent calls cannot all pass
    outcome = run_plan(wb, make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], repeats=2), concurrency=8)
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 12)
    assert any(r["status"] == 429 for r in fake_server.chat_requests())
    assert fake_server.completed == 12


def test_random_429s_cost_no_cell(wb, fake_server):
    fake_server.fail_rate = 0.2
    fake_server.fail_status = 429
    outcome = run_plan(wb, make_plan(wb, repeats=2), concurrency=8)
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 48)
    assert fake_server.completed == 48 < fake_server.calls


def test_a_key_revoked_mid_run_keeps_what_was_answered(wb, fake_server):
    def on_progress(progress):
        if progress.new_calls >= 3:
            fake_server.api_keys = {"sk-someone-else"}

    fake_server.latency = 0.01
    plan = make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], repeats=2)
    first = run_plan(wb, plan, concurrency=1, on_progress=on_progress)
    assert first.status == "failed" and "rejected the API key" in first.error
    answered = fake_server.completed
    assert 3 <= answered < 12
    assert response_count(wb) == answered == first.new_calls
    fake_server.api_keys = {TEST_KEY}
    second = run_plan(wb, make_plan(wb, models=["gpt-4.1-nano"], temps=[0.0], repeats=2), concurrency=1)
    assert second.run_id == first.run_id  # the failed run is resumed
    assert (second.status, second.new_calls) == ("completed", 12 - answered)
    assert fake_server.completed == 12
