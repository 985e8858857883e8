"""Time the bundled local model (SmolLM2-135M through llama.cpp) on the example prompts.

    python -m benchmarks.bench_local [--samples 10] [--repeats 2]

For each example prompt in ``prompts/`` (short product reviews, spam, support tickets, IMDB
reviews): a sweep of ``--samples`` stratified samples x ``--repeats`` at temperature 0 into a
temporary SQLite file, reporting seconds per call, calls per second, prompt tokens per call and
whether the repeats agree. Also the server's start-up time, and one prompt evaluated cold (first
turn not cached) and warm. Needs ``pip install -r requirements-local.txt``; prints figures and
asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from workbench.config import Settings
from workbench.datasets import load_samples
from workbench.local import BUNDLED_MODEL
from workbench.local.server import LocalServers
from workbench.promptfile import load_prompt
from workbench.service import Workbench

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [  # prompt, samples, label column
    ("sentiment", "sentiment.csv", "label"),
    ("spam", "spam.csv", "label"),
    ("support_topic", "support_topic.jsonl", "label"),
    ("imdb_sentiment", "imdb_sentiment.csv", "sentiment"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wb = Workbench.open(Settings(database_url=f"sqlite:///{Path(folder) / 'bench.db'}", timeout=120))
        wb.servers = servers = LocalServers()
        try:
            start = time.perf_counter()
            servers.server(wb.local[BUNDLED_MODEL])
            print(f"server start-up: {time.perf_counter() - start:.2f} s")
            for name, data, column in EXAMPLES:
                samples = load_samples(ROOT / "prompts" / data, column).stratified(args.samples, 0)
                prompt = load_prompt(ROOT / "prompts" / f"{name}.yaml")
                plan = wb.plan([prompt], samples, [BUNDLED_MODEL], [0.0], repeats=args.repeats)
                run = wb.start(plan, concurrency=4)
                start = time.perf_counter()
                outcome = wb.execute(run, plan)
                seconds = time.perf_counter() - start
                (cell,) = wb.summary(run.id)["cells"]
                calls = outcome.new_calls
                print(
                    f"{name:15} {calls:3d} calls in {seconds:5.1f} s: {seconds / calls:.2f} s/call, "
                    f"{calls / seconds:.2f} calls/s, {cell['prompt_tokens'] / cell['n']:.0f} prompt tokens/call, "
                    f"repeats agree {cell['consistency']:.0%}, accuracy {cell['accuracy']:.0%}"
                )
            prompt = load_prompt(ROOT / "prompts" / "imdb_sentiment.yaml")
            body = {
                "model": BUNDLED_MODEL,
                "messages": [
                    prompt.messages[0],
                    {"role": "user", "content": "Review: A fine film, though it runs long."},
                ],
                "temperature": 0,
                "max_tokens": 5,
            }
            other = {**body, "messages": [{"role": "system", "content": "Be brief."}, body["messages"][1]]}
            wb.provider.complete(other)  # the IMDB system message is not cached now
            cold = wb.provider.complete(body).latency_ms
            warm = wb.provider.complete(body).latency_ms
            print(f"one short IMDB call: cold {cold:.0f} ms, system message cached {warm:.0f} ms")
        finally:
            servers.stop_all()
            wb.engine.dispose()


if __name__ == "__main__":
    main()
