"""Sweep throughput against a bare client, and the cost of an identical re-run.

    python -m benchmarks.bench_sweep [--calls 1200] [--latency 0.04] [--concurrency 32]

Starts the loopback OpenAI-compatible server from the tests with ~40 ms latency, then:
1. a bare ``ThreadPoolExecutor`` making the same chat calls with the openai client (no storage);
2. a workbench sweep of the same calls (concurrency N, every response committed to SQLite);
3. the identical sweep again: every cell reused, no call made.
Prints wall times and calls per second. Nothing here is a test: it reports figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import openai

from workbench.chat import request_body
from workbench.config import Settings
from workbench.datasets import load_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench

PROMPT = """
name: bench
labels: [positive, negative, neutral]
messages:
  - role: system
    content: Classify the sentiment. Answer with one word.
  - role: user
    content: "Review: {{text}}"
params: {max_tokens: 3}
"""


@contextlib.contextmanager
def fake_server(latency: float, labels: list[str], extra: list[str] | None = None):
    """The loopback server in its own process, so it does not share the GIL with the client measured."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_openai",
            "--port",
            str(port),
            "--latency",
            str(latency),
            "--labels",
            ",".join(labels),
            "--quiet",
            *(extra or []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    models = ["gpt-4.1-nano", "gpt-4.1-mini"]
    temperatures = [0.0, 0.7]
    repeats = 1
    n_samples = max(1, args.calls // (len(models) * len(temperatures) * repeats))
    prompt = parse_prompt(PROMPT, "bench")
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    data = tmp / "samples.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n_samples):
            writer.writerow([f"sample review number {i}: it was {'great' if i % 2 else 'bad'}", "positive"])
    samples = load_samples(data)

    with fake_server(args.latency, list(prompt.labels)) as base_url:
        bodies = [
            request_body(prompt, m, t, s.variables) for m in models for t in temperatures for s in samples.samples
        ] * repeats
        client = openai.OpenAI(api_key="sk-bench", base_url=base_url, max_retries=2)
        client.chat.completions.create(**bodies[0])  # warm the connection pool like the sweep's first call
        start = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda b: client.chat.completions.create(**b), bodies))
        bare = time.perf_counter() - start

        settings = replace(
            Settings.from_env({}), base_url=base_url, database_url=f"sqlite:///{tmp / 'bench.db'}"
        ).with_key("sk-bench")
        wb = Workbench.open(settings)
        plan = wb.plan([prompt], samples, models, temperatures, repeats)
        start = time.perf_counter()
        run = wb.start(plan, concurrency=args.concurrency)
        outcome = wb.execute(run, plan, concurrency=args.concurrency)
        swept = time.perf_counter() - start

        start = time.perf_counter()
        plan = wb.plan([prompt], samples, models, temperatures, repeats)
        run = wb.start(plan, concurrency=args.concurrency)
        again = wb.execute(run, plan, concurrency=args.concurrency)
        summary = wb.summary(run.id, again)
        rerun = time.perf_counter() - start

    calls = len(bodies)
    print(f"server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, {calls} calls")
    print(f"bare openai client + thread pool : {bare:6.2f} s  ({calls / bare:6.1f} calls/s)")
    print(
        f"workbench sweep (stored, costed) : {swept:6.2f} s  ({outcome.new_calls / swept:6.1f} calls/s), "
        f"{outcome.new_calls} new calls, status {outcome.status}"
    )
    print(f"ratio sweep / bare               : {swept / bare:6.2f}")
    print(
        f"identical re-run, all reused     : {rerun:6.2f} s  ({again.reused} cells reused, {again.new_calls} calls,"
        f" {len(summary['cells'])} cells summarised)"
    )


if __name__ == "__main__":
    main()
