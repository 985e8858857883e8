"""Time the cascade simulation on a synthetic run: 10,000 samples, cheap x 5 repeats, strong x 1, logprobs.

    python -m benchmarks.bench_cascade [--samples 10000] [--repeats 5] [--seed 0]

Builds a results frame shaped like ``storage.results.results_frame`` (60,000 rows by default) and
per-answer probabilities, then times ``cascade_report`` (every policy, cross-validation,
calibration) and the cascade charts. Prints the figures; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from workbench.cascade import cascade_report
from workbench.charts_cascade import cascade_cost_accuracy, coverage_chart, reliability_chart

LABELS = ["positive", "negative", "neutral"]


def synthetic(samples: int, repeats: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, samples)
    hard = rng.random(samples)  # per-sample difficulty: the cheap model errs on hard samples, not independently
    rows = []
    for model, n, skill in (("gpt-4.1-nano", repeats, 0.75), ("gpt-4.1-mini", 1, 0.92)):
        right = rng.random((samples, n)) < np.where(hard[:, None] < skill, 0.97, 0.35)
        wrong = (gold[:, None] + rng.integers(1, 3, (samples, n))) % 3
        pred = np.where(right, gold[:, None], wrong)
        for r in range(n):
            rows.append(
                pd.DataFrame(
                    {
                        "prompt_version_id": 1,
                        "prompt_name": "p",
                        "model": model,
                        "temperature": 0.7,
                        "sample_index": np.arange(samples),
                        "repeat": r,
                        "gold": np.array(LABELS)[gold],
                        "predicted": np.array(LABELS)[pred[:, r]],
                        "cost_usd": 0.000012 if model == "gpt-4.1-nano" else 0.000048,
                        "latency_ms": rng.gamma(4, 40, samples),
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    frame["item_id"] = np.arange(1, len(frame) + 1)
    right = frame["predicted"] == frame["gold"]
    probs = pd.Series(np.where(right, rng.beta(8, 2, len(frame)), rng.beta(3, 3, len(frame))), index=frame["item_id"])
    return frame, probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame, probs = synthetic(args.samples, args.repeats, args.seed)
    start = time.perf_counter()
    report = cascade_report(frame, {1: LABELS}, "gpt-4.1-nano", "gpt-4.1-mini", probabilities=probs)
    simulated = time.perf_counter() - start
    start = time.perf_counter()
    for chart in (cascade_cost_accuracy(report), reliability_chart(report), coverage_chart(report)):
        chart.to_dict()
    drawn = time.perf_counter() - start
    rec = report["recommended"] or {}
    print(f"{len(frame):,} rows, {args.samples:,} samples, {len(report['policies'])} policies")
    print(f"cascade_report: {simulated:.2f} s; charts: {drawn:.2f} s")
    print(f"recommended: {report['reason']}")
    if rec:
        print(f"  held-out {rec['held_out_accuracy']:.3f}, in-sample {rec['accuracy_all']:.3f}")


if __name__ == "__main__":
    main()
