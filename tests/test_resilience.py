"""Runs that survive a bad server and a lost session: stalls mid-response time out and are retried,
background sweeps are cancelled from another session or process and keep their answers, and
runs left by a dead worker are marked interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.support.fake_openai import FakeOpenAI, last_user_text
from tests.support.resilience import (
    MODELS,
    body_key,
    count_rows,
    dead_pid,
    finish_all,
    marker_answers,
    paid_twice,
    start_cli,
    sweep_args,
    wait_until,
    write_inputs,
)
from workbench.datasets import load_samples
from workbench.jobs import JobManager
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.liveness import is_live
from workbench.storage.models import utcnow
from workbench.storage.results import results_frame

# --------------------------------------------------------------------------- 4. a server that stalls mid-response


def stall_every_call_for(server: FakeOpenAI, marker: str) -> None:
    """Make the server stall mid-response on every request for the sample whose text starts with ``marker``.

    Scripted faults are taken one per request whatever its body; this routes the "stall" fault by
    body instead, through the two hooks the handler calls (record, then fault) in its own thread.
    """
    local = threading.local()
    add_record = server._add_record

    def record(entry: dict) -> None:
        local.body = entry.get("body")
        add_record(entry)

    def next_fault() -> str | None:
        body = getattr(local, "body", None)
        return "stall" if isinstance(body, dict) and last_user_text(body).startswith(marker) else None

    server._add_record = record
    server._next_fault = next_fault


def stall_plan(bench: Workbench, tmp_path: Path, n: int = 12):
    prompt, data = write_inputs(tmp_path, n)
    return bench.plan([parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), ["gpt-4.1-nano"], [0.0])


def test_a_stalled_answer_times_out_is_retried_and_does_not_hold_up_the_run(
    settings, fake_server, tmp_path, quick_backoff
):
    bench = Workbench.open(dataclasses.replace(settings, timeout=1.0, max_attempts=2))
    fake_server.responder = marker_answers
    fake_server.stall_seconds = 60
    fake_server.faults.append("stall")
    plan = stall_plan(bench, tmp_path)
    outcome = bench.execute(bench.start(plan), plan, concurrency=4)
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 12)
    [stalled] = [r for r in fake_server.chat_requests() if r["fault"] == "stall"]
    # the run finished while the server was still stalling: it did not wait for stall_seconds
    assert "elapsed" not in stalled
    answered = [r for r in fake_server.chat_requests() if r["status"] == 200 and "usage" in r]
    assert any(body_key(r["body"]) == body_key(stalled["body"]) for r in answered)  # retried and answered
    assert sum(1 for r in answered if r["time"] > stalled["time"]) >= 4
    bench.engine.dispose()


def test_an_item_that_always_stalls_is_an_error_on_that_item_only(settings, fake_server, tmp_path, quick_backoff):
    bench = Workbench.open(dataclasses.replace(settings, timeout=1.0, max_attempts=2))
    fake_server.responder = marker_answers
    fake_server.stall_seconds = 60
    stall_every_call_for(fake_server, "005")
    plan = stall_plan(bench, tmp_path)
    outcome = bench.execute(bench.start(plan), plan, concurrency=4)
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("stopped", 1, 11)
    assert "timed out" in outcome.error
    stalled = [r for r in fake_server.chat_requests() if r["fault"] == "stall"]
    assert len(stalled) == 2  # tried, retried, given up
    assert all("elapsed" not in r for r in stalled)  # without waiting for the server's 60 s
    frame, _ = results_frame(bench.engine, outcome.run_id)
    failed = frame[frame["error"].notna()]
    assert [json.loads(v)["text"][:3] for v in failed["variables"]] == ["005"]
    assert "timed out" in failed["error"].iloc[0]
    assert frame[frame["error"].isna()]["predicted"].notna().sum() == 11
    # once the server behaves, the same plan calls only that item
    fake_server._next_fault = lambda: None
    again = bench.execute(bench.start(plan), plan, concurrency=4)
    assert (again.run_id, again.status, again.new_calls, again.errors) == (outcome.run_id, "completed", 1, 0)
    bench.engine.dispose()


# --------------------------------------------------------------------------- 5. background jobs


def jobs_plan(bench: Workbench, tmp_path: Path, n: int):
    prompt, data = write_inputs(tmp_path, n)
    return bench.plan(
        [parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), list(MODELS), [0.0, 0.7]
    )


def test_a_background_sweep_is_cancelled_from_another_session_and_keeps_its_answers(settings, fake_server, tmp_path):
    fake_server.responder = marker_answers
    fake_server.latency = 0.05
    bench = Workbench.open(settings)
    manager = JobManager(bench)
    plan = jobs_plan(bench, tmp_path, 60)
    run = bench.start(plan)
    job = manager.submit(run, plan, concurrency=2)
    assert manager.running() == [run.id]

    other = Workbench.open(settings)  # another session or process: its own engine, its own manager
    wait_until(lambda: repo.run_progress(other.engine, run.id)["answered"] >= 6, what="some answers")
    JobManager(other).cancel(run.id)  # does not mark the live run interrupted, and stops it
    job.thread.join(60)
    assert not job.thread.is_alive()
    assert job.error is None and job.outcome.status == "cancelled"
    assert repo.get_run(other.engine, run.id).status == "cancelled"
    progress = repo.run_progress(other.engine, run.id)
    assert 6 <= progress["answered"] < 240
    assert progress["answered"] == job.outcome.new_calls == fake_server.completed  # every paid answer kept

    # the Resume action: the same manager runs it again and only the rest is paid for
    answered = progress["answered"]
    job = manager.submit(repo.get_run(bench.engine, run.id), plan, concurrency=8)
    job.thread.join(60)
    assert job.outcome.status == "completed" and job.outcome.new_calls == 240 - answered
    assert fake_server.completed == 240 and paid_twice(fake_server.billed()) == 0
    assert repo.get_run(other.engine, run.id).status == "completed"
    bench.engine.dispose()
    other.engine.dispose()


@pytest.mark.slow
def test_a_cli_sweep_is_cancelled_from_another_process(fake_server, settings, tmp_path):
    fake_server.responder = marker_answers
    fake_server.latency = 0.05
    prompt, data = write_inputs(tmp_path / "inputs", 60)
    proc = start_cli(
        sweep_args(prompt, data, concurrency=2), cli_env(fake_server.base_url, settings.database_url), tmp_path
    )
    wait_until(
        lambda: count_rows(settings.database_url, "SELECT count(*) FROM responses") >= 6 or proc.poll() is not None
    )
    bench = Workbench.open(settings)
    [run_id] = [r.id for r in repo.runs_with_status(bench.engine, ["running"])]
    JobManager(bench).cancel(run_id)
    [(code, out, err)] = finish_all([proc])
    assert code == 1 and "cancelled" in err
    summary = json.loads(out)
    assert summary["run_id"] == run_id and summary["status"] == "cancelled"
    assert summary["new_calls"] == fake_server.completed == repo.run_progress(bench.engine, run_id)["answered"] < 240
    bench.engine.dispose()


def test_runs_left_running_by_a_dead_worker_are_marked_interrupted(wb, tmp_path):
    plan = jobs_plan(wb, tmp_path, 3)
    host = socket.gethostname()
    cases = {
        "dead pid here": (f"{host}:{dead_pid()}", 0, "interrupted"),
        "silent elsewhere": ("elsewhere.example:4242", 600, "interrupted"),
        "alive here": (f"{host}:{os.getpid()}", 0, "running"),
        "beating elsewhere": ("elsewhere.example:4242", 1, "running"),
    }
    ids = {}
    for name, (worker, age_s, _) in cases.items():
        run = wb.start(plan, name=name, resume=False)
        beat = utcnow() - timedelta(seconds=age_s)
        repo.update_run(wb.engine, run.id, status="running", worker=worker, started_at=beat, heartbeat_at=beat)
        ids[name] = run.id
    JobManager(wb)  # a server process starting up
    for name, (_, _, expected) in cases.items():
        assert repo.get_run(wb.engine, ids[name]).status == expected, name
    interrupted = repo.get_run(wb.engine, ids["dead pid here"])
    assert interrupted.error and not is_live(interrupted)
