"""Many processes on one database, and how long a crashed sweep takes to finish.

    python -m benchmarks.bench_concurrency [--processes 8] [--calls 200] [--latency 0.05] [--concurrency 8]

Against the loopback OpenAI-compatible server from the tests (in its own process), prints:

1. ``--processes`` CLI sweeps (``python -m workbench sweep``) started at once into one SQLite file,
   then into one PostgreSQL database (a throwaway server with fsync on, started as the tests start
   it; skipped with the reason where none can be started): sweeps completed, wall time, calls per
   second, and the commit latency of answers, measured inside each runner from the moment a
   worker hands an answer to the writer to the moment its transaction has committed (p50, p95,
   max), plus the p95 duration of the writer's transactions themselves.
2. On each database: a sweep SIGKILLed after a third of its answers are stored, and the time from
   the kill to the identical command having completed the run (process start, finding the
   interrupted run, calling only what is missing).

The measuring hook wraps the runner's writer from outside (``python -c`` around the CLI); nothing in
the workbench is changed for it. Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresUnavailable, start_postgres  # noqa: E402

KEY = "sk-bench-not-real"
LABELS = ("positive", "negative", "neutral")
PROMPT = """\
name: bench-concurrency
labels: [positive, negative, neutral]
messages:
  - role: system
    content: Classify the sentiment. Answer with one word.
  - role: user
    content: "Review: {{text}}"
params: {max_tokens: 3}
"""

# Runs the CLI with the runner's writer timed: arrival -> committed per answer, and each transaction.
HOOK = r"""
import atexit, json, os, queue, sys, time
from workbench import runner

arrivals, latencies, transactions = {}, [], []


class StampedQueue(queue.Queue):
    def put(self, item, block=True, timeout=None):
        if item[0] == "ok":
            arrivals[item[1][0]] = time.perf_counter()
        super().put(item, block, timeout)


real_init, real_commit = runner.Runner.__init__, runner.Runner._commit


def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    self._queue = StampedQueue()


def commit(self, run_id, records, beat):
    start = time.perf_counter()
    real_commit(self, run_id, records, beat)
    end = time.perf_counter()
    if records:
        transactions.append(end - start)
    for kind, payload in records:
        if kind == "ok":
            latencies.append(end - arrivals.pop(payload[0], end))


runner.Runner.__init__, runner.Runner._commit = init, commit


@atexit.register
def dump():
    with open(os.environ["WB_BENCH_TIMINGS"], "w") as handle:
        json.dump({"commit": latencies, "transactions": transactions}, handle)


from workbench.cli import main

sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """The loopback server in its own process; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_openai", "--port", str(port), "--latency", str(latency),
         "--labels", ",".join(LABELS), "--key", KEY, "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_inputs(directory: Path, samples: int) -> tuple[Path, Path]:
    prompt = directory / "bench.yaml"
    prompt.write_text(PROMPT, encoding="utf-8")
    data = directory / "samples.csv"
    rows = ["text,label"] + [
        f"review {i}: it was {('great', 'awful', 'fine')[i % 3]},{LABELS[i % 3]}" for i in range(samples)
    ]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return prompt, data


def env_for(base_url: str, db_url: str, timings: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
    env.update(
        OPENAI_API_KEY=KEY, OPENAI_BASE_URL=base_url, WORKBENCH_DATABASE_URL=db_url, PYTHONPATH=str(ROOT),
        WORKBENCH_TIMEOUT="30",
    )  # fmt: skip
    if timings is not None:
        env["WB_BENCH_TIMINGS"] = str(timings)
    return env


def sweep_args(prompt: Path, data: Path, temperature: float, concurrency: int) -> list[str]:
    return ["sweep", "--prompt", str(prompt), "--dataset", str(data), "--models", "gpt-4.1-nano,gpt-4.1-mini",
            "--temperatures", f"{temperature:g}", "--concurrency", str(concurrency), "--json", "--quiet"]  # fmt: skip


def count(db_url: str, sql: str) -> int:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar())
    except Exception:
        return 0
    finally:
        engine.dispose()


def answering_span(db_url: str) -> float:
    """Seconds from the first stored answer to the last (the sweeping itself, without process start-up)."""
    from sqlalchemy import func, select

    from workbench.storage.models import Response
    from workbench.storage.repository import _ts

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            first, last = conn.execute(select(func.min(Response.created_at), func.max(Response.created_at))).one()
        return _ts(last) - _ts(first)
    finally:
        engine.dispose()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def many_processes(label: str, db_url: str, base_url: str, work: Path, args: argparse.Namespace) -> None:
    prompt, data = write_inputs(work, args.calls // 2)
    # warm up: create the schema and store the prompt and samples once, so the figures are about sweeping
    subprocess.run([sys.executable, "-m", "workbench", "estimate", "--prompt", str(prompt), "--dataset", str(data),
                    "--models", "gpt-4.1-nano", "--json"], cwd=work, env=env_for(base_url, db_url),
                   capture_output=True, check=True)  # fmt: skip
    procs = []
    start = time.perf_counter()
    for i in range(args.processes):
        timings = work / f"timings-{label}-{i}.json"
        procs.append(
            (subprocess.Popen(
                [sys.executable, "-c", HOOK, *sweep_args(prompt, data, round(0.1 * (i + 1), 2), args.concurrency)],
                cwd=work, env=env_for(base_url, db_url, timings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            ), timings)
        )  # fmt: skip
    completed, calls, locked, latencies, transactions = 0, 0, 0, [], []
    for proc, timings in procs:
        out, err = proc.communicate(timeout=900)
        locked += "database is locked" in err
        if proc.returncode == 0:
            summary = json.loads(out)
            completed += summary["status"] == "completed"
            calls += summary["new_calls"]
        else:
            print(f"  a sweep failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
        if timings.exists():
            measured = json.loads(timings.read_text())
            latencies += measured["commit"]
            transactions += measured["transactions"]
    wall = time.perf_counter() - start
    answers = count(db_url, "SELECT count(*) FROM responses")
    span = answering_span(db_url)
    print(
        f"{label:<10} {args.processes} processes x {args.calls} calls: {completed}/{args.processes} sweeps completed, "
        f"{answers} answers stored, 'database is locked' in {locked} processes"
    )
    print(
        f"{'':<10} {calls / wall:6.1f} calls/s over {wall:5.1f} s wall (with process start-up), "
        f"{answers / span if span > 0 else float('nan'):6.1f} calls/s while answers were arriving ({span:4.1f} s)"
    )
    print(
        f"{'':<10} commit latency (answer -> committed) p50 {pct(latencies, 0.5) * 1000:6.1f} ms, "
        f"p95 {pct(latencies, 0.95) * 1000:6.1f} ms, max {max(latencies, default=float('nan')) * 1000:6.1f} ms; "
        f"writer transaction p95 {pct(transactions, 0.95) * 1000:6.1f} ms over {len(transactions)} transactions "
        f"(mean {statistics.fmean(transactions) * 1000 if transactions else float('nan'):.1f} ms)"
    )


def kill_and_resume(label: str, db_url: str, base_url: str, work: Path, args: argparse.Namespace) -> None:
    prompt, data = write_inputs(work, args.kill_calls // 2)
    env = env_for(base_url, db_url)
    sweep = sweep_args(prompt, data, 0.0, args.concurrency)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *sweep], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    target = args.kill_calls // 3
    while count(db_url, "SELECT count(*) FROM responses") < target and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.perf_counter()
    proc.wait()
    stored = count(db_url, "SELECT count(*) FROM responses")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", *sweep], cwd=work, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - killed
    summary = json.loads(done.stdout) if done.returncode == 0 else {"status": f"exit {done.returncode}"}
    print(
        f"{label:<10} SIGKILL after {stored}/{args.kill_calls} answers -> identical command {summary['status']} "
        f"(run {summary.get('run_id')}, {summary.get('new_calls')} new calls) in {elapsed:5.2f} s after the kill"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200, help="calls per sweep (each process sweeps its own plan)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency in seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel calls per process")
    parser.add_argument("--kill-calls", type=int, default=600, help="calls of the sweep that is SIGKILLed")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wb-bench-concurrency-"))
    print(
        f"server latency {args.latency * 1000:.0f} ms, {args.processes} processes x concurrency {args.concurrency}, "
        f"{os.cpu_count()} CPUs"
    )
    with fake_server(args.latency) as base_url:
        targets: list[tuple[str, str, object]] = [("SQLite", f"sqlite:///{work / 'shared.db'}", None)]
        try:
            server = start_postgres(fast=False)
            targets.append(("PostgreSQL", server.url(), server))
        except PostgresUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        try:
            for label, url, _ in targets:
                (work / label).mkdir()
                many_processes(label, url, base_url, work / label, args)
            for label, _, server in targets:
                kill_url = f"sqlite:///{work / 'killed.db'}" if server is None else server.create_database("killed")
                (work / f"{label}-kill").mkdir()
                kill_and_resume(label, kill_url, base_url, work / f"{label}-kill", args)
        finally:
            for _, _, server in targets:
                if server is not None:
                    server.stop()


if __name__ == "__main__":
    main()
