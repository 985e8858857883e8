"""Scenarios shared by the crash and concurrency tests on SQLite (test_processes) and PostgreSQL
(test_postgres): sample files, scripted answers, CLI processes, and checks of the database and
the figures against what the loopback server billed.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from tests.conftest import LABELS, PROMPT_YAML, cli_env, truth_cells
from tests.support.fake_openai import FakeOpenAI, last_user_text

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
