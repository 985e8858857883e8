"""Half price: sweeps through the Batch API and Flex processing, against the loopback server's files and batches.

The fake server (tests/support/fake_batches.py) keeps its own ledger of what it billed, at OpenAI's
published prices with flex and batch at half: the figures here are checked against that record.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import GOLD, TEST_KEY, nano_answers
from tests.support.fake_openai import FakeOpenAI
from workbench.config import Secret, Settings
from workbench.datasets import load_samples
from workbench.errors import InputError
from workbench.promptfile import load_prompt
from workbench.service import Workbench
from workbench.storage import batches as batch_store
from workbench.storage import repository as repo

MODELS = ["gpt-4.1-nano", "gpt-4.1-mini"]
FLEX_PAIR = ["gpt-6-luna", "gpt-5-nano"]  # models that offer Flex processing


def _bench(server: FakeOpenAI, db_url: str, **extra: object) -> Workbench:
    options: dict[str, object] = {"batch_poll": 0.05, "flex_backoff": 0.02, "timeout": 5.0}
    options.update(extra)
    return Workbench.open(
        Settings(api_key=Secret(TEST_KEY), base_url=server.base_url, database_url=db_url, **options)  # type: ignore[arg-type]
    )


def _plan(wb: Workbench, prompt_file: Path, samples_file: Path, models=MODELS, repeats: int = 1):
    return wb.plan([load_prompt(prompt_file)], load_samples(samples_file), models, [0.0], repeats)


def _sweep(wb: Workbench, plan, delivery: str, **execute: object):
    run = wb.start(plan, delivery=delivery)
    outcome = wb.execute(run, plan, **execute)  # type: ignore[arg-type]
    return run, outcome


@pytest.fixture
def server() -> FakeOpenAI:
    server = FakeOpenAI(api_keys={TEST_KEY}, responder=nano_answers)
    yield server
    server.close()


def _figures(summary: dict) -> list[tuple]:
    return [
        (c["model"], c["n"], c["accuracy"], c["macro_f1"], c["unparsed"], c["prompt_tokens"], c["completion_tokens"])
        for c in summary["cells"]
    ]


def test_the_same_sweep_as_standard_flex_and_batch_reports_the_same_figures_at_half_price(
    tmp_path, prompt_file, samples_file
):
    results = {}
    for mode in ("standard", "flex", "batch"):
        with FakeOpenAI(api_keys={TEST_KEY}, responder=nano_answers) as server:
            wb = _bench(server, f"sqlite:///{tmp_path / (mode + '.db')}")
            plan = _plan(wb, prompt_file, samples_file, models=FLEX_PAIR)
            run, outcome = _sweep(wb, plan, mode)
            assert outcome.status == "completed", outcome.error
            summary = wb.summary(run.id, outcome)
            ledger = server.ledger()
            tier = {"standard": "default", "flex": "flex", "batch": "batch"}[mode]
            assert {t for t, *_ in ledger} == {tier}
            assert len(ledger) == len(plan.calls())  # every call billed once, none twice
            # exact against the server's own bill
            assert outcome.spent_usd == server.charges(tier)
            assert Decimal(repr(summary["total_cost_usd"])) == server.charges(tier).quantize(Decimal("1e-12")) or (
                abs(Decimal(repr(summary["total_cost_usd"])) - server.charges(tier)) < Decimal("1e-12")
            )
            assert summary["delivery"] == mode
            results[mode] = (summary, server.charges(tier))
            if mode == "flex":
                assert all(body.get("service_tier") == "flex" for _, body, _, _ in ledger)
            wb.engine.dispose()
    standard, flex, batch = (results[m] for m in ("standard", "flex", "batch"))
    assert _figures(standard[0]) == _figures(flex[0]) == _figures(batch[0])
    assert flex[1] == batch[1] == standard[1] / 2
    assert standard[0]["saving_usd"] == 0.0
    assert batch[0]["saving_usd"] == pytest.approx(float(batch[1]), rel=1e-9)


def test_batch_splits_per_model_and_line_limit_and_matches_shuffled_results_by_custom_id(
    server, db_url, prompt_file, samples_file, monkeypatch
):
    from workbench import batch as batch_module

    monkeypatch.setattr(batch_module, "MAX_LINES", 4)
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file)
    run, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "completed", outcome.error
    jobs = batch_store.jobs(wb.engine, run.id)
    # 6 samples per model, at most 4 lines a batch: 2 batches per model, each of one model
    assert sorted((j.model, j.lines) for j in jobs) == sorted(
        [("gpt-4.1-nano", 4), ("gpt-4.1-nano", 2), ("gpt-4.1-mini", 4), ("gpt-4.1-mini", 2)]
    )
    assert all(j.collected and j.status == "completed" and j.batch_id and j.input_file_id for j in jobs)
    # answers stored against the right items although the output files are shuffled
    frame = repo.run_progress(wb.engine, run.id)
    assert frame["answered"] == 12
    summary = wb.summary(run.id)
    mini = next(c for c in summary["cells"] if c["model"] == "gpt-4.1-mini")
    assert mini["accuracy"] == 1.0  # mini always answers the gold label: any mismatch would show
    assert len(GOLD) == 6


def test_a_line_answered_4xx_is_an_item_error_and_a_5xx_line_goes_into_a_follow_up_batch(
    server, db_url, prompt_file, samples_file
):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    calls = plan.calls()
    server.batches.line_faults = {calls[0].key: 500, calls[1].key: 400}
    run, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "stopped"
    items = repo.run_progress(wb.engine, run.id)
    assert items["answered"] == 5 and items["errors"] == 1
    jobs = batch_store.jobs(wb.engine, run.id)
    assert len(jobs) == 2 and batch_store.keys_of(jobs[1]) == [calls[0].key]  # only the 5xx line again
    ran = server.batches.lines_run()
    assert ran.count(calls[0].key) == 2 and ran.count(calls[1].key) == 1
    assert {t for t, *_ in server.ledger()} == {"batch"}  # never quietly sent at full price
    assert "Injected failure with status 400" in outcome.error or outcome.errors == 1


def test_an_expired_batch_keeps_what_it_completed_and_resubmits_only_the_rest(
    server, db_url, prompt_file, samples_file
):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    server.batches.expire_after = 2
    server.batches.expire_limit = 1  # the first batch expires after two lines; the follow-up runs to the end
    run, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "completed", outcome.error
    jobs = batch_store.jobs(wb.engine, run.id)
    assert [j.status for j in jobs] == ["expired", "completed"]
    assert len(batch_store.keys_of(jobs[1])) == 4
    ran = server.batches.lines_run()
    assert len(ran) == len(set(ran)) == 6  # no line ran twice
    assert outcome.spent_usd == server.charges("batch")


def test_a_failed_batch_shows_the_validation_errors_with_their_line_numbers(server, db_url, prompt_file, samples_file):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    server.batches.max_lines = 3  # a server whose limit is lower than ours
    _, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "failed"
    assert "failed validation" in outcome.error and "at most 3" in outcome.error
    assert server.ledger() == []


def test_a_validation_error_on_one_line_is_put_on_that_lines_item(
    server, db_url, prompt_file, samples_file, monkeypatch
):
    from workbench import batch as batch_module

    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    bad = plan.calls()[2].key
    original = batch_module._line

    def line(key, call):  # the third line names another endpoint: the server refuses the file
        data = original(key, call)
        return data.replace(b"/v1/chat/completions", b"/v1/embeddings") if key == bad else data

    monkeypatch.setattr(batch_module, "_line", line)
    run, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "failed" and "line 3:" in outcome.error and "/v1/embeddings" in outcome.error
    from sqlmodel import Session, select

    from workbench.storage.models import RunItem

    with Session(wb.engine) as session:
        errors = dict(session.exec(select(RunItem.request_key, RunItem.error).where(RunItem.run_id == run.id)).all())
    assert "line 3:" in errors[bad] and "does not match" in errors[bad]
    assert server.ledger() == []


def test_a_server_without_the_batch_api_is_a_one_line_error_suggesting_standard_or_flex(
    server, db_url, prompt_file, samples_file
):
    server.batches.enabled = False
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file)
    _, outcome = _sweep(wb, plan, "batch")
    assert outcome.status == "failed"
    assert "no Batch API" in outcome.error and "flex" in outcome.error and "\n" not in outcome.error
    assert not [r for r in server.requests if r["path"] == "/v1/files"]  # nothing uploaded


def test_cancel_cancels_the_batches_and_keeps_what_they_completed(server, db_url, prompt_file, samples_file):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    server.batches.pause_after = 3  # three lines run, then the batch waits in_progress
    cancel = threading.Event()
    run = wb.start(plan, delivery="batch")
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("o", wb.execute(run, plan, cancel=cancel)))
    worker.start()
    deadline = time.monotonic() + 10
    while batch_store.progress(wb.engine, run.id)["completed"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    cancel.set()
    worker.join(10)
    outcome = result["o"]
    assert outcome.status == "cancelled"
    assert repo.run_progress(wb.engine, run.id)["answered"] == 3
    assert [j.status for j in batch_store.jobs(wb.engine, run.id)] == ["cancelled"]
    assert len(server.batches.lines_run()) == 3


def test_flex_sends_service_tier_outside_the_key_and_retries_resource_unavailable(
    server, db_url, prompt_file, samples_file
):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-5-nano"])
    server.flex_unavailable = 2
    _, outcome = _sweep(wb, plan, "flex", concurrency=1)
    assert outcome.status == "completed", outcome.error
    refused = [r for r in server.chat_requests() if r["fault"] == "resource_unavailable"]
    assert len(refused) == 2 and all(r["status"] == 429 for r in refused)
    assert outcome.spent_usd == server.charges("flex")
    # the answers bought by flex are reused by the identical standard sweep: the mode is not in the key
    before = len(server.ledger())
    run2 = wb.start(plan, delivery="standard")
    outcome2 = wb.execute(run2, plan)
    assert outcome2.new_calls == 0 and outcome2.reused == 6 and len(server.ledger()) == before
    assert all("service_tier" not in call.body for call in plan.calls())


def test_delivery_mode_refuses_bad_names_and_flex_for_models_without_it(server, db_url, prompt_file, samples_file):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file)
    with pytest.raises(InputError, match="not one of"):
        wb.start(plan, delivery="cheap")
    with pytest.raises(InputError, match=r"gpt-4\.1-nano, gpt-4\.1-mini does not offer Flex processing"):
        wb.start(plan, delivery="flex")
    assert server.ledger() == []


def test_the_estimate_is_at_the_modes_price_and_budget_caps_use_it(server, db_url, prompt_file, samples_file):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file)
    standard = wb.estimate(plan)
    batch = wb.estimate(plan, "batch")
    assert batch["est_new_usd"] == pytest.approx(standard["est_new_usd"] / 2, rel=1e-12)
    assert batch["est_new_usd_standard"] == standard["est_new_usd"]
    cap = (batch["est_new_usd"] + standard["est_new_usd"]) / 2  # enough at half price, too little at full
    wb.check_budget(batch, cap)
    with pytest.raises(Exception, match="exceeds the budget"):
        wb.check_budget(standard, cap)


def test_a_batch_created_just_before_a_crash_is_adopted_not_sent_again(
    server, db_url, prompt_file, samples_file, monkeypatch
):
    from workbench.batch import BatchExecutor

    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    run = wb.start(plan, delivery="batch")
    original = BatchExecutor._record

    def crash(self, job, batch):  # the process dies after the batch is created, before its id is stored
        raise SystemExit("killed")

    monkeypatch.setattr(BatchExecutor, "_record", crash)
    with pytest.raises(SystemExit):
        wb.execute(run, plan)
    jobs = batch_store.jobs(wb.engine, run.id)
    assert len(jobs) == 1 and jobs[0].input_file_id and jobs[0].batch_id is None
    monkeypatch.setattr(BatchExecutor, "_record", original)
    outcome = wb.execute(repo.get_run(wb.engine, run.id), plan)
    assert outcome.status == "completed", outcome.error
    assert len(server.batches.batch_ids()) == 1  # the one created before the crash, adopted
    ran = server.batches.lines_run()
    assert len(ran) == len(set(ran)) == 6


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_sigkill_while_waiting_then_resume_collects_without_resubmitting(
    server, db_url, tmp_path, prompt_file, samples_file
):
    import os
    import signal
    import subprocess
    import sys

    from sqlalchemy import create_engine

    from tests.conftest import ROOT, cli_env

    server.batches.hold = True  # the batch waits in_progress until the sweep is killed
    env = cli_env(server.base_url, db_url, WORKBENCH_BATCH_POLL="0.05")
    args = [sys.executable, "-m", "workbench", "sweep", "--prompt", str(prompt_file), "--dataset", str(samples_file),
            "--models", "gpt-4.1-nano,gpt-4.1-mini", "--batch", "--json"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    engine = create_engine(db_url)
    try:
        from workbench.storage.migrations import migrate

        _wait_for(lambda: os.path.exists(tmp_path / "workbench.db"))
        _wait_for(lambda: len(server.batches.batch_ids()) == 2)

        def recorded() -> bool:
            try:
                migrate(engine)
                return len([j for j in batch_store.jobs(engine, 1) if j.batch_id]) == 2
            except Exception:
                return False

        _wait_for(recorded)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert server.ledger() == []  # nothing ran yet
    server.batches.hold = False
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "resume", "1", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(server.batches.batch_ids()) == 2  # reattached to the same batches, none sent again
    ran = server.batches.lines_run()
    assert len(ran) == len(set(ran)) == 12  # no line executed twice
    import json

    result = json.loads(done.stdout)
    assert result["status"] == "completed" and result["delivery"] == "batch"
    assert Decimal(repr(result["spent_usd"])) == server.charges("batch").quantize(Decimal("1e-12")) or abs(
        Decimal(repr(result["spent_usd"])) - server.charges("batch")
    ) < Decimal("1e-12")
    assert ROOT.exists()
    engine.dispose()


def test_cli_batch_no_wait_says_how_to_collect_and_resume_collects(run_cli, fake_server, prompt_file, samples_file):
    fake_server.batches.hold = True
    code, _, err = run_cli(
        [
            "sweep",
            "--prompt",
            prompt_file,
            "--dataset",
            samples_file,
            "--models",
            "gpt-4.1-nano",
            "--batch",
            "--no-wait",
        ],
        env={"WORKBENCH_BATCH_POLL": "0.05"},
    )
    assert code == 130, err
    assert "still running on the server" in err and "python -m workbench resume 1" in err
    assert "delivery: batch at half price" in err
    fake_server.batches.hold = False
    code, _, err = run_cli(["resume", "1", "--json"], env={"WORKBENCH_BATCH_POLL": "0.05"})
    assert code == 0, err
    assert len(fake_server.batches.batch_ids()) == 1


def test_cli_flags_conflict_and_local_server_without_batch_api(run_cli, fake_server, prompt_file, samples_file):
    base = ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-nano"]
    code, _, err = run_cli([*base, "--batch", "--service-tier", "flex"])
    assert code == 2 and "choose one" in err and "Traceback" not in err
    fake_server.batches.enabled = False
    code, _, err = run_cli([*base, "--batch"], env={"WORKBENCH_BATCH_POLL": "0.05"})
    assert code == 1 and "no Batch API" in err and "Traceback" not in err
    code, _, err = run_cli([*base[:-1], "gpt-6-luna", "--service-tier", "flex", "--json"])
    assert code == 0, err
    assert all(r["body"]["service_tier"] == "flex" for r in fake_server.chat_requests())


def test_a_restarted_app_picks_up_batch_runs_and_collects_them_without_resubmitting(
    server, db_url, prompt_file, samples_file
):
    from workbench.jobs import JobManager

    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file)
    server.batches.hold = True
    run = wb.start(plan, delivery="batch")
    left = wb.execute(run, plan, wait=False)  # submitted, then the process "went away"
    assert left.status == "interrupted" and "resume" in left.error
    assert repo.get_run(wb.engine, run.id).status == "interrupted"
    server.batches.hold = False
    manager = JobManager(wb)  # what a restarted app builds first
    job = manager.job(run.id)
    assert job is not None
    job.thread.join(30)
    assert job.outcome is not None and job.outcome.status == "completed", job.error
    assert len(server.batches.batch_ids()) == 2
    ran = server.batches.lines_run()
    assert len(ran) == len(set(ran)) == 12
    assert repo.get_run(wb.engine, run.id).status == "completed"
    assert manager.pick_up_batches() == []  # nothing left to pick up


def test_an_app_that_stops_leaves_the_batches_running_instead_of_cancelling_them(
    server, db_url, prompt_file, samples_file
):
    wb = _bench(server, db_url)
    plan = _plan(wb, prompt_file, samples_file, models=["gpt-4.1-nano"])
    server.batches.hold = True
    run = wb.start(plan, delivery="batch")
    cancel, leave = threading.Event(), threading.Event()
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("o", wb.execute(run, plan, cancel=cancel, leave=leave)))
    worker.start()
    _wait_for(lambda: bool([j for j in batch_store.jobs(wb.engine, run.id) if j.batch_id]), 10)
    leave.set()  # the worker's parent is gone: it sets both, as workbench.worker does
    cancel.set()
    worker.join(10)
    assert result["o"].status == "interrupted" and "resume" in result["o"].error
    assert [b.status for b in server.batches.batches.values()] == ["in_progress"]  # not cancelled
    assert not [r for r in server.requests if r["path"].endswith("/cancel")]
