"""Runs that survive anything: SIGKILL and resume, many processes on one SQLite file, 429s, stalls, jobs.

Every test drives real processes (``python -m workbench``) or the real runner against the loopback
``FakeOpenAI`` and checks the database and the figures against what the server says it billed.
Nothing here measures time; the benchmark in ``benchmarks/bench_concurrency.py`` does.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from tests.conftest import LABELS, PROMPT_YAML, cli_env, truth_cells
from tests.support.fake_openai import FakeOpenAI, last_user_text
from workbench import runner as runner_module
from workbench.datasets import load_samples
from workbench.jobs import JobManager
from workbench.limiter import AdaptiveLimiter
from workbench.promptfile import parse_prompt
from workbench.providers.base import RateInfo
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo
from workbench.storage.models import utcnow
from workbench.storage.results import results_frame

MODELS = ("gpt-4.1-nano", "gpt-4.1-mini")
TEMPERATURES = (0.0, 0.7)

# ------------------------------------------------------------------- shared helpers (also used by test_postgres)


def gold_labels(n: int) -> dict[str, str]:
    """Gold label per three-digit marker, the first three characters of each sample's text."""
    return {f"{i:03d}": LABELS[i % len(LABELS)] for i in range(n)}


def write_inputs(directory: Path, n: int) -> tuple[Path, Path]:
    """The test prompt and ``n`` labeled samples whose texts start with their marker."""
    directory.mkdir(parents=True, exist_ok=True)
    prompt = directory / "sentiment.yaml"
    prompt.write_text(PROMPT_YAML, encoding="utf-8")
    rows = ["text,label"] + [
        f"{marker} review number {int(marker)},{label}" for marker, label in gold_labels(n).items()
    ]
    data = directory / "samples.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return prompt, data


def marker_answers(body: Mapping[str, Any], call_index: int) -> str:
    """Mini is always right; nano is wrong on every fourth sample and unparsable on every fifth.

    The answer depends only on the request body, so a call paid twice gets the same answer twice.
    """
    marker = last_user_text(body)[:3]
    i = int(marker)
    right = LABELS[i % len(LABELS)]
    if body.get("model") != "gpt-4.1-nano":
        return right.capitalize() + "."
    if i % 5 == 2:
        return "hard to say"
    if i % 4 == 1:
        return LABELS[(i + 1) % len(LABELS)]
    return f"Label: {right}"


def sweep_args(
    prompt: Path,
    data: Path,
    models: Iterable[str] = MODELS,
    temperatures: Iterable[float] = TEMPERATURES,
    concurrency: int = 8,
) -> list[str]:
    return [
        "sweep",
        "--prompt", str(prompt),
        "--dataset", str(data),
        "--models", ",".join(models),
        "--temperatures", ",".join(f"{t:g}" for t in temperatures),
        "--concurrency", str(concurrency),
        "--json",
        "--quiet",
    ]  # fmt: skip


def body_key(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def paid_twice(billed: list[tuple[dict, dict, str]], repeats: int = 1) -> int:
    """Answered calls beyond the first ``repeats`` of each distinct request body."""
    counts = collections.Counter(body_key(body) for body, _, _ in billed)
    return sum(max(0, n - repeats) for n in counts.values())


def first_billing(billed: list[tuple[dict, dict, str]]) -> list[tuple[dict, dict, str]]:
    """Each distinct request once (its answer is the same every time it was paid)."""
    seen: dict[str, tuple[dict, dict, str]] = {}
    for entry in billed:
        seen.setdefault(body_key(entry[0]), entry)
    return list(seen.values())


def assert_cells_match_truth(summary: Mapping[str, Any], billed: list[tuple[dict, dict, str]], n: int) -> None:
    """Every figure of a sweep summary equals the server's record of what it answered and billed."""
    truth = truth_cells(first_billing(billed), LABELS, gold_labels(n))
    cells = {(c["model"], c["temperature"]): c for c in summary["cells"]}
    assert set(cells) == set(truth)
    for key, expected in truth.items():
        cell = cells[key]
        assert cell["n"] == expected["n"] == n, key
        assert cell["errors"] == 0, key
        assert cell["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12), key
        assert cell["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-12), key
        assert cell["unparsed"] == expected["unparsed"], key
        for field in ("prompt_tokens", "cached_tokens", "completion_tokens"):
            assert cell[field] == expected[field], (key, field)
        assert cell["cost_usd"] == pytest.approx(float(expected["cost"]), rel=1e-9, abs=1e-15), key
    total = sum(float(c["cost"]) for c in truth.values())
    assert summary["total_cost_usd"] == pytest.approx(total, rel=1e-9)


def start_cli(args: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_all(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        out.append((proc.returncode, stdout, stderr))
    return out


def run_cli_env(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    return finish_all([start_cli(args, env, cwd)], timeout)[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- database checks (SQLite or PostgreSQL)


def count_rows(url: str, sql: str) -> int:
    """A count read through a connection of its own (before the schema exists: 0)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar())
    except OperationalError:
        return 0
    except ProgrammingError:
        return 0
    finally:
        engine.dispose()


def assert_consistent(url: str) -> None:
    """The database is intact: no item points at a missing response, no request was stored twice."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).all() == [("ok",)]
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            dangling = conn.execute(
                text(
                    "SELECT count(*) FROM run_items i LEFT JOIN responses r ON r.id = i.response_id "
                    "WHERE i.response_id IS NOT NULL AND r.id IS NULL"
                )
            ).scalar()
            assert dangling == 0
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT request_key FROM responses "
                    "GROUP BY request_key HAVING count(*) > 1) d"
                )
            ).scalar()
            assert twice == 0
            pointing_elsewhere = conn.execute(
                text(
                    "SELECT count(*) FROM run_items i JOIN responses r ON r.id = i.response_id "
                    "WHERE r.request_key != i.request_key"
                )
            ).scalar()
            assert pointing_elsewhere == 0
    finally:
        engine.dispose()


def runs_json(env: Mapping[str, str], cwd: Path) -> list[dict[str, Any]]:
    code, out, err = run_cli_env(["runs", "--json"], env, cwd)
    assert code == 0, err
    return json.loads(out)["runs"]


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_S", 0.02)


# --------------------------------------------------------------------------- 1. SIGKILL mid-flight, then resume

KILL_SAMPLES = 75  # x 2 models x 2 temperatures = 300 calls
KILL_CONCURRENCY = 8


def sweep_and_kill(fake_server: FakeOpenAI, tmp_path: Path, db_url: str) -> tuple[list[str], dict[str, str]]:
    """Start a 300-call CLI sweep, SIGKILL it once some answers are stored; returns (args, env) to run it again."""
    fake_server.responder = marker_answers
    fake_server.latency = 0.05
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 4
    prompt, data = write_inputs(tmp_path / "inputs", KILL_SAMPLES)
    env = cli_env(fake_server.base_url, db_url)
    args = sweep_args(prompt, data, concurrency=KILL_CONCURRENCY)
    proc = start_cli(args, env, tmp_path)
    try:
        wait_until(
            lambda: count_rows(db_url, "SELECT count(*) FROM responses") >= 40 or proc.poll() is not None,
            what="the first 40 answers to be stored",
        )
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()  # reaped, so its pid is free: the next start sees the worker is gone
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return args, env


def check_after_kill(env: dict[str, str], db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Consistent, partly answered, and listed as interrupted; returns the run as ``runs --json`` shows it."""
    assert_consistent(db_url)
    stored = count_rows(db_url, "SELECT count(*) FROM responses")
    assert 40 <= stored < 4 * KILL_SAMPLES
    [run] = runs_json(env, tmp_path)
    assert run["status"] == "interrupted"
    assert run["answered"] == stored and run["calls"] == 4 * KILL_SAMPLES
    return run


def check_resumed(summary: dict[str, Any], fake_server: FakeOpenAI, run: dict[str, Any], billed_before: int) -> None:
    """The same run completed, paying only for what was missing, with every figure right."""
    billed = fake_server.billed()
    assert summary["run_id"] == run["id"]
    assert summary["status"] == "completed"
    assert summary["new_calls"] == len(billed) - billed_before == 4 * KILL_SAMPLES - run["answered"]
    assert_cells_match_truth(summary, billed, KILL_SAMPLES)
    # only calls that were in flight when the process died were paid for twice
    assert paid_twice(billed) <= KILL_CONCURRENCY
    assert len(first_billing(billed)) == 4 * KILL_SAMPLES


@pytest.mark.slow
def test_sigkill_mid_flight_then_the_identical_command_completes_the_run(fake_server, tmp_path, db_url):
    args, env = sweep_and_kill(fake_server, tmp_path, db_url)
    run = check_after_kill(env, db_url, tmp_path)
    billed_before = len(fake_server.billed())
    code, out, err = run_cli_env(args, env, tmp_path)
    assert code == 0, err
    check_resumed(json.loads(out), fake_server, run, billed_before)
    assert_consistent(db_url)
    engine = make_engine(db_url)
    [listed] = repo.list_runs(engine).to_dict("records")
    assert (listed["id"], listed["status"], listed["answered"]) == (run["id"], "completed", 4 * KILL_SAMPLES)
    assert count_rows(db_url, "SELECT count(*) FROM call_claims") == 0  # no lease outlives its run
    engine.dispose()


@pytest.mark.slow
def test_sigkill_mid_flight_then_resume_run_id_completes_the_run(fake_server, tmp_path, db_url):
    _args, env = sweep_and_kill(fake_server, tmp_path, db_url)
    run = check_after_kill(env, db_url, tmp_path)
    billed_before = len(fake_server.billed())
    code, out, err = run_cli_env(["resume", str(run["id"]), "--json", "--quiet"], env, tmp_path)
    assert code == 0, err
    check_resumed(json.loads(out), fake_server, run, billed_before)
    assert_consistent(db_url)


# --------------------------------------------------------------------------- 2. many processes, one SQLite file, 429s

MANY_SAMPLES = 24  # x 2 models x 2 temperatures = 96 calls per plan


def plan_variants(n: int, kind: str) -> list[tuple[tuple[str, ...], tuple[float, ...]]]:
    """(models, temperatures) per process: all the same, or overlapping plans listed in different orders."""
    same = (MODELS, TEMPERATURES)
    different = [
        (MODELS if i % 2 else MODELS[::-1], (0.0, round(0.1 * (i + 1), 1)) if i % 2 else (round(0.1 * (i + 1), 1), 0.0))
        for i in range(n)
    ]
    if kind == "identical":
        return [same] * n
    if kind == "different":
        return different
    return [same if i % 2 else different[i] for i in range(n)]  # mixed


def sweep_many(
    fake_server: FakeOpenAI, tmp_path: Path, db_url: str, n: int, kind: str, extra_env: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[tuple[tuple[str, ...], tuple[float, ...]]], dict[str, str]]:
    """``n`` CLI sweeps at once into ``db_url`` against a server answering 15% of calls with 429."""
    fake_server.responder = marker_answers
    fake_server.latency = 0.01
    fake_server.fail_rate = 0.15
    fake_server.fail_status = 429
    prompt, data = write_inputs(tmp_path / "inputs", MANY_SAMPLES)
    env = cli_env(fake_server.base_url, db_url, **dict(extra_env or {}))
    variants = plan_variants(n, kind)
    procs = [
        start_cli(sweep_args(prompt, data, models, temps, concurrency=4), env, tmp_path) for models, temps in variants
    ]
    results = finish_all(procs)
    summaries = []
    for code, out, err in results:
        assert "database is locked" not in err
        assert "Traceback" not in err, err
        assert code == 0, err
        summaries.append(json.loads(out))
    return summaries, variants, env


def check_many(fake_server: FakeOpenAI, summaries, variants) -> set[str]:
    """Each distinct call billed once, every run complete and right; returns the distinct request bodies."""
    billed = fake_server.billed()
    assert fake_server.calls > len(billed)  # 429s were injected and retried
    assert paid_twice(billed) == 0
    wanted = {(m, t) for models, temps in variants for m in models for t in temps}
    distinct = {body_key(body) for body, _, _ in billed}
    assert len(distinct) == len(wanted) * MANY_SAMPLES
    for summary, (models, temps) in zip(summaries, variants, strict=True):
        assert summary["status"] == "completed"
        assert {(c["model"], c["temperature"]) for c in summary["cells"]} == {(m, t) for m in models for t in temps}
        truth = truth_cells(first_billing(billed), LABELS, gold_labels(MANY_SAMPLES))
        for cell in summary["cells"]:
            expected = truth[(cell["model"], cell["temperature"])]
            assert (cell["n"], cell["errors"], cell["unparsed"]) == (MANY_SAMPLES, 0, expected["unparsed"])
            assert cell["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
            assert cell["prompt_tokens"] == expected["prompt_tokens"]
            assert cell["cost_usd"] == pytest.approx(float(expected["cost"]), rel=1e-9)
    assert sum(s["new_calls"] for s in summaries) == len(billed)
    assert len({s["run_id"] for s in summaries}) == len(summaries)
    return distinct


def check_many_stored(db_url: str, variants, distinct: set[str], env: dict[str, str], cwd: Path, summaries) -> None:
    """No lost row, nothing stored twice, no lease left behind, every run listed and complete."""
    assert_consistent(db_url)
    assert count_rows(db_url, "SELECT count(*) FROM responses") == len(distinct)
    per_run = sum(len(models) * len(temps) * MANY_SAMPLES for models, temps in variants)
    assert count_rows(db_url, "SELECT count(*) FROM run_items WHERE response_id IS NOT NULL") == per_run
    assert count_rows(db_url, "SELECT count(*) FROM run_items") == per_run
    assert count_rows(db_url, "SELECT count(*) FROM call_claims") == 0
    runs = runs_json(env, cwd)
    assert sorted(r["id"] for r in runs) == sorted(s["run_id"] for s in summaries)
    assert {r["status"] for r in runs} == {"completed"}


@pytest.mark.slow
@pytest.mark.parametrize(("n", "kind"), [(4, "identical"), (8, "mixed")])
def test_processes_sweeping_into_one_sqlite_file_at_once(fake_server, tmp_path, db_url, n, kind):
    summaries, variants, env = sweep_many(fake_server, tmp_path, db_url, n, kind)
    distinct = check_many(fake_server, summaries, variants)
    check_many_stored(db_url, variants, distinct, env, tmp_path, summaries)


# --------------------------------------------------------------------------- 3. adaptive concurrency under a rate limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def blocked_acquire(limiter: AdaptiveLimiter, stop: threading.Event | None = None) -> tuple[threading.Thread, list]:
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(limiter.acquire(stop)), daemon=True)
    thread.start()
    return thread, got


def test_limiter_halves_on_429_at_most_once_a_second_and_climbs_back_to_its_maximum():
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, clock=clock)
    assert limiter.limit == 16
    limiter.rate_limited(None)
    limiter.rate_limited(None)  # the same burst of 429s: one cut
    assert limiter.limit == 8
    clock.now += 1.0
    limiter.rate_limited(None)
    assert limiter.limit == 4
    for _ in range(10):
        clock.now += 1.0
        limiter.rate_limited(None)
    assert limiter.limit == 1  # never below one call in flight
    successes = 0
    while limiter.limit < 16:
        limiter.success()
        successes += 1
        assert successes < 1000
    assert successes == sum(range(1, 16))  # one more slot per `limit` successes (additive increase)
    for _ in range(100):
        limiter.success()
    assert limiter.limit == 16


def test_limiter_admits_at_most_limit_calls_at_once():
    limiter = AdaptiveLimiter(2, clock=FakeClock())
    assert limiter.acquire() and limiter.acquire()
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []
    limiter.release()
    thread.join(5)
    assert got == [True]


def test_limiter_pauses_every_caller_for_retry_after_and_for_an_exhausted_ratelimit_header():
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    limiter.rate_limited(2.0)
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []  # the clock has not moved: still paused
    clock.now += 2.01
    thread.join(5)
    assert got == [True]
    limiter.release()

    limiter.success(RateInfo(remaining_requests=5, limit_requests=10, reset_requests_s=3.0))
    assert limiter.acquire()  # requests left: no pause
    limiter.release()
    limiter.success(RateInfo(remaining_requests=0, limit_requests=10, reset_requests_s=3.0))
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []
    clock.now += 3.01
    thread.join(5)
    assert got == [True]


def test_a_waiting_caller_gives_up_when_the_run_stops():
    limiter = AdaptiveLimiter(1, clock=FakeClock())
    limiter.rate_limited(30.0)
    stop = threading.Event()
    thread, got = blocked_acquire(limiter, stop)
    stop.set()
    thread.join(5)
    assert got == [False]


class RecordingLimiter(AdaptiveLimiter):
    """The runner's limiter, recording its limit after every answer and every 429."""

    instances: list[RecordingLimiter] = []

    def __init__(self, maximum: int, clock=time.monotonic):
        super().__init__(maximum, clock)
        self.history: list[tuple[str, float]] = []
        RecordingLimiter.instances.append(self)

    def success(self, rate: RateInfo | None = None) -> None:
        super().success(rate)
        self.history.append(("ok", self.limit))

    def rate_limited(self, retry_after: float | None) -> None:
        super().rate_limited(retry_after)
        self.history.append(("429", self.limit))


RATE = 20  # requests per second the server admits


@pytest.mark.slow
def test_a_rate_limited_server_slows_the_sweep_down_and_it_speeds_up_again(wb, fake_server, tmp_path, monkeypatch):
    RecordingLimiter.instances.clear()
    monkeypatch.setattr(runner_module, "AdaptiveLimiter", RecordingLimiter)
    fake_server.rate_limit_rps = RATE
    fake_server.responder = marker_answers
    prompt, data = write_inputs(tmp_path, 13 * RATE // 4)
    plan = wb.plan([parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), list(MODELS), [0.0, 0.7])
    assert len(plan.calls()) == 13 * RATE
    lifted: list[tuple[int, int]] = []  # (answers so far, limiter events so far) when the limit was lifted

    def on_progress(progress) -> None:
        if progress.new_calls >= 10 * RATE and not lifted:
            lifted.append((progress.new_calls, len(RecordingLimiter.instances[0].history)))
            fake_server.rate_limit_rps = None  # 10 x N answers under the limit; the last 3 x N without

    run = wb.start(plan, concurrency=16)
    outcome = wb.execute(run, plan, concurrency=16, on_progress=on_progress)
    [limiter] = RecordingLimiter.instances
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 13 * RATE)
    assert fake_server.completed == 13 * RATE
    assert lifted and lifted[0][0] >= 10 * RATE, "the sweep never got past 10 x N answers"
    refused = [r for r in fake_server.chat_requests() if r["status"] == 429]
    assert refused  # the server did push back
    frame, _ = results_frame(wb.engine, outcome.run_id)
    assert frame["error"].isna().all() and frame["predicted"].notna().all()  # no failed cell
    under_limit = [limit for _, limit in limiter.history[: lifted[0][1]]]
    assert min(under_limit) < 16  # slowed down
    low = under_limit.index(min(under_limit))
    assert max(under_limit[low:]) > min(under_limit)  # and sped up again between 429s
    after = limiter.history[lifted[0][1] :]
    assert after and after[-1][1] > min(limit for _, limit in after[:5])  # climbing once the 429s stopped


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
    assert interrupted.error and not wb._is_live(interrupted)
