"""A CLI sweep against a bare openai-SDK thread pool, as whole processes, side by side.

    python -m benchmarks.bench_sweep [--calls 1200] [--latency 0.04] [--concurrency 32] [--rounds 3]

Starts the loopback OpenAI-compatible server from the tests (its own process) with ~40 ms latency,
then, in each round and alternating which goes first:
1. ``python -m benchmarks.bare_client``: a bare ``ThreadPoolExecutor`` over the openai SDK that
   makes the same chat calls and stores nothing;
2. ``python -m workbench sweep``: the same calls at the same concurrency, every answer committed
   to a fresh SQLite file, costed, and the results summarised.
Both are timed from process start to exit (imports included). Prints each round, the medians and
the ratio bare / sweep (1.0 or more: the sweep is at least as fast as the bare client).
Then times an identical re-run of the sweep (every answer reused, no call made).
Nothing here is a test: it reports figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[2]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    models, temperatures, repeats = ["gpt-4.1-nano", "gpt-4.1-mini"], ["0", "0.7"], 1
    n_samples = max(1, args.calls // (len(models) * len(temperatures) * repeats))
    calls = n_samples * len(models) * len(temperatures) * repeats
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    prompt_file, data = tmp / "bench.yaml", tmp / "samples.csv"
    prompt_file.write_text(PROMPT.lstrip(), encoding="utf-8")
    lines = ["text,label"] + [
        f"sample review number {i}: it was {'great' if i % 2 else 'bad'},positive" for i in range(n_samples)
    ]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    axes = ["--models", ",".join(models), "--temperatures", ",".join(temperatures), "--repeats", str(repeats)]
    concurrency = ["--concurrency", str(args.concurrency)]
    bare_cmd = [sys.executable, "-m", "benchmarks.bare_client", str(prompt_file), str(data), *axes, *concurrency]

    with fake_server(args.latency, ["positive", "negative", "neutral"]) as base_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
        env.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=base_url, PYTHONPATH=str(ROOT))
        bare_times, sweep_times = [], []
        print(f"server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, {calls} calls per process")
        for round_ in range(args.rounds):
            db = f"sqlite:///{tmp / f'bench-{round_}.db'}"
            sweep_cmd = [
                sys.executable, "-m", "workbench", "sweep", "--prompt", str(prompt_file), "--dataset", str(data),
                *axes, *concurrency, "--json", "--quiet",
            ]  # fmt: skip
            order = [("bare", bare_cmd), ("sweep", sweep_cmd)]
            for name, command in order if round_ % 2 == 0 else order[::-1]:
                elapsed, out = timed(command, {**env, "WORKBENCH_DATABASE_URL": db})
                if name == "bare":
                    assert int(out.strip()) == calls, out
                    bare_times.append(elapsed)
                else:
                    result = json.loads(out)
                    assert result["status"] == "completed" and result["new_calls"] == calls, result.get("error")
                    sweep_times.append(elapsed)
            print(
                f"round {round_ + 1}: bare {bare_times[-1]:5.2f} s, sweep {sweep_times[-1]:5.2f} s, "
                f"ratio bare/sweep {bare_times[-1] / sweep_times[-1]:4.2f}"
            )
        bare, swept = statistics.median(bare_times), statistics.median(sweep_times)
        print(f"bare openai client + thread pool (process) : median {bare:5.2f} s ({calls / bare:6.1f} calls/s)")
        print(f"workbench sweep, stored + costed (process) : median {swept:5.2f} s ({calls / swept:6.1f} calls/s)")
        print(f"ratio bare / sweep (>= 1.0: the sweep is as fast) : {bare / swept:4.2f}")
        rerun, out = timed(sweep_cmd, {**env, "WORKBENCH_DATABASE_URL": db})
        again = json.loads(out)
        print(f"identical re-run, all reused (process)     : {rerun:5.2f} s ({again['new_calls']} calls made)")


if __name__ == "__main__":
    main()
