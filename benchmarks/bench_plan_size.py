"""Plan size: how long and how much memory the CLI takes to estimate, or refuse, a huge plan.

    flock -x /tmp/bench.lock python -m benchmarks.bench_plan_size [--rows 1000000]

Two whole processes, as a person runs them (issue 12, item 10), each measured by the wall clock and
its peak resident memory (``wait4``'s ``ru_maxrss``):

- ``estimate`` on ROWS samples x 2 models x 2 temperatures x 2 repeats (8 x ROWS calls), from a CSV;
- ``sweep --repeats 3000000 --max-cost 0.01`` on 6 samples: refused by its budget before any call.

No server is called (the estimate needs none; the refusal comes first). Baseline for the same
process with nothing to plan: ``python -m workbench --help``.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["estimate", "--prompt", "p.yaml", "--dataset"]
BIG_PLAN = ["--models", "gpt-4.1-mini,gpt-4.1-nano", "--temperatures", "0,0.7", "--repeats", "2", "--json"]
HUGE_REPEATS = ["--models", "gpt-4.1-mini", "--repeats", "3000000", "--max-cost", "0.01", "--quiet"]

PROMPT = """\
name: bench-sentiment
labels: [positive, negative, neutral]
messages:
  - role: system
    content: Classify the sentiment of the review as positive, negative or neutral. Answer with the label only.
  - role: user
    content: "{{text}}"
"""
WORDS = ("the", "soup", "was", "cold", "but", "the", "waiter", "was", "kind", "and", "the", "view", "over", "the")


def write_samples(path: Path, rows: int) -> None:
    labels = ("positive", "negative", "neutral")
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        for i in range(rows):
            words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 17))
            out.writerow([f"review {i}: {words}", labels[i % 3]])


def measure(args: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(seconds, peak RSS in MB, exit code, last line of stderr) of ``python -m workbench *args``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
    env.update(
        OPENAI_API_KEY="sk-bench-not-real",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # nothing listens: no call may be made
        WORKBENCH_DATABASE_URL=f"sqlite:///{cwd / 'bench.db'}",
        PYTHONPATH=str(ROOT),
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    last = (err.strip().splitlines() or [""])[-1]
    return elapsed, usage.ru_maxrss / 1024, process.returncode, last[:160]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "p.yaml").write_text(PROMPT, encoding="utf-8")
        write_samples(cwd / "big.csv", opts.rows)
        write_samples(cwd / "six.csv", 6)
        cases = [
            ("baseline: --help", ["--help"]),
            (
                f"estimate {opts.rows:,} rows x 2 models x 2 temperatures x 2 repeats",
                [*FILES, "big.csv", *BIG_PLAN],
            ),
            (
                "sweep --repeats 3000000 --max-cost 0.01 (6 samples)",
                ["sweep", *FILES[1:], "six.csv", *HUGE_REPEATS],
            ),
        ]
        print(f"{'case':<70}{'seconds':>9}{'peak MB':>9}{'exit':>6}  last line")
        for name, args in cases:
            seconds, peak, code, last = measure(args, cwd)
            print(f"{name:<70}{seconds:>9.2f}{peak:>9.0f}{code:>6}  {last}")


if __name__ == "__main__":
    main()
