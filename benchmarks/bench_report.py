"""Time the run report and its charts on a synthetic 100,000-response results frame.

    python -m benchmarks.bench_report [--samples 2500] [--repeats 4] [--prompts 1] [--seed 0]

Builds a frame of prompts x 2 models x 5 temperatures x samples x repeats rows (100,000 by
default) shaped like ``storage.results.results_frame``, then times ``build_report`` (cells,
paired tests, frontier, recommendation), the per-sample views, and each chart's construction plus
``to_dict()``. Prints the figures; nothing here asserts a time (the target is under 2 s in all).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench import charts
from workbench.metrics import build_report, disagreements, per_sample
from workbench.storage.results import results_frame

LABELS = ["positive", "negative", "neutral"]
MODELS = ["gpt-4.1-nano", "gpt-4.1-mini"]
TEMPERATURES = [0.0, 0.25, 0.5, 0.75, 1.0]


def synthetic_frame(samples: int, repeats: int, prompts: int, seed: int) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """A results frame with realistic mixes: ~1% errors, ~2% unparsed, skill varying by cell."""
    rng = np.random.default_rng(seed)
    pvs = list(range(1, prompts + 1))
    index = pd.MultiIndex.from_product(
        [pvs, MODELS, TEMPERATURES, range(samples), range(repeats)],
        names=["prompt_version_id", "model", "temperature", "sample_index", "repeat"],
    )
    frame = index.to_frame(index=False)
    n = len(frame)
    labels = np.array(LABELS, dtype=object)
    gold = labels[rng.integers(0, len(labels), samples)][frame["sample_index"].to_numpy()]
    skill = 0.95 - 0.08 * (frame["model"] == MODELS[0]).to_numpy() - 0.05 * frame["temperature"].to_numpy()
    roll = rng.random(n)
    predicted = np.where(roll < skill, gold, labels[rng.integers(0, len(labels), n)]).astype(object)
    predicted[roll > 0.98] = "unparsed"
    failed = rng.random(n) < 0.01
    predicted[failed] = None
    prompt_tokens = rng.integers(60, 90, n)
    cost = np.where(frame["model"] == MODELS[0], 0.1e-6, 0.4e-6) * prompt_tokens + 1.6e-6
    frame["prompt_name"] = "sentiment-v" + frame["prompt_version_id"].astype(str)
    frame["gold"] = gold
    frame["predicted"] = predicted
    frame["output"] = pd.Series(predicted, dtype=object).str.capitalize()
    frame["error"] = np.where(failed, "HTTP 500: server error", None)
    frame["prompt_tokens"] = pd.array(np.where(failed, None, prompt_tokens), dtype="Int64")
    frame["cached_tokens"] = pd.array(np.where(failed, None, 0), dtype="Int64")
    frame["completion_tokens"] = pd.array(np.where(failed, None, 1), dtype="Int64")
    frame["cost_usd"] = np.where(failed, np.nan, np.round(cost, 10))
    frame["latency_ms"] = np.where(failed, np.nan, rng.gamma(2.0, 180.0, n))
    frame["ttft_ms"] = np.nan
    frame["reused"] = rng.random(n) < 0.2
    texts = pd.Series([json.dumps({"text": f"review number {i}"}) for i in range(samples)])
    frame["variables"] = texts.to_numpy()[frame["sample_index"].to_numpy()]
    return frame, {pv: list(LABELS) for pv in pvs}


def stored_run(frame: pd.DataFrame, labels: dict[int, list[str]]) -> tuple[Any, int]:
    """The synthetic frame written to a temporary SQLite database as a real run (bulk inserts)."""
    import tempfile

    from workbench.datasets import Sample as SampleRow
    from workbench.datasets import SampleSet
    from workbench.promptfile import PromptFile
    from workbench.storage import make_engine
    from workbench.storage import repository as repo
    from workbench.storage.models import Response, Run, RunItem

    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    n_samples = int(frame["sample_index"].max()) + 1
    gold = frame.drop_duplicates("sample_index").set_index("sample_index")["gold"]
    samples = SampleSet(
        "bench",
        "label",
        ("text", "label"),
        tuple(SampleRow(i, str(gold[i]), {"text": f"sample {i}"}, i + 2) for i in range(n_samples)),
    )
    dataset = repo.save_dataset(engine, samples)
    prompts = []
    for pv, pv_labels in labels.items():
        prompt = PromptFile(f"bench{pv}", tuple(pv_labels), ({"role": "user", "content": "{{text}}"},))
        prompts.append({"id": repo.save_prompt_version(engine, prompt).id, "name": prompt.name, "hash": "x"})
    ids = {pv: p["id"] for pv, p in zip(labels, prompts, strict=True)}
    run = Run(
        name="bench",
        status="completed",
        plan_hash="bench",
        plan_json=json.dumps({"prompts": prompts}),
        dataset_id=dataset.id,
        base_url="http://bench",
        models_json=json.dumps(MODELS),
        temperatures_json=json.dumps(TEMPERATURES),
        total_items=len(frame),
    )
    answered = frame["predicted"].notna().to_numpy()
    with engine.begin() as conn:
        conn.execute(Run.__table__.insert(), [run.model_dump(exclude={"id"})])
        run_id = conn.exec_driver_sql("SELECT max(id) FROM runs").scalar()
        keys = [f"k{i}" for i in range(len(frame))]
        conn.execute(
            Response.__table__.insert(),
            [
                {
                    "request_key": keys[i],
                    "base_url": "http://bench",
                    "model": m,
                    "request_json": "{}",
                    "output": o,
                    "prompt_tokens": 50,
                    "cached_tokens": 0,
                    "completion_tokens": 1,
                    "cost_usd": c,
                    "latency_ms": lat,
                    "run_id": run_id,
                }
                for i, (m, o, c, lat) in enumerate(
                    zip(frame["model"], frame["output"], frame["cost_usd"], frame["latency_ms"], strict=True)
                )
                if answered[i]
            ],
        )
        response_ids = dict(conn.exec_driver_sql("SELECT request_key, id FROM responses").all())
        conn.execute(
            RunItem.__table__.insert(),
            [
                {
                    "run_id": run_id,
                    "prompt_version_id": ids[pv],
                    "sample_idx": int(si),
                    "model": m,
                    "temperature": float(t),
                    "repeat": int(r),
                    "request_key": keys[i],
                    "response_id": response_ids.get(keys[i]),
                    "reused": False,
                    "attempts": 1,
                    "error": None if answered[i] else "failed",
                }
                for i, (pv, si, m, t, r) in enumerate(
                    zip(
                        frame["prompt_version_id"],
                        frame["sample_index"],
                        frame["model"],
                        frame["temperature"],
                        frame["repeat"],
                        strict=True,
                    )
                )
            ],
        )
    return engine, run_id


def timed(name: str, fn: Callable[[], Any], results: list[tuple[str, float]]) -> Any:
    start = time.perf_counter()
    value = fn()
    results.append((name, time.perf_counter() - start))
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame, labels = synthetic_frame(args.samples, args.repeats, args.prompts, args.seed)
    cells = frame.groupby(["prompt_version_id", "model", "temperature"]).ngroups
    print(f"results frame: {len(frame):,} rows, {cells} cells")

    engine, run_id = stored_run(frame, labels)
    core: list[tuple[str, float]] = []
    frame, labels = timed("results_frame (read from SQLite)", lambda: results_frame(engine, run_id), core)
    report = timed("build_report", lambda: build_report(frame, labels, run_id=run_id), core)
    timed("json.dumps(report)", lambda: json.dumps(report, allow_nan=False), core)
    builders: list[tuple[str, Callable[[], Any]]] = [
        ("accuracy_vs_temperature", lambda: charts.accuracy_vs_temperature(report).to_dict()),
        ("consistency_vs_temperature", lambda: charts.consistency_vs_temperature(report).to_dict()),
        ("cost_vs_accuracy", lambda: charts.cost_vs_accuracy(report).to_dict()),
        ("confusion_heatmap", lambda: charts.confusion_heatmap(report["cells"][0]).to_dict()),
        ("latency_distribution", lambda: charts.latency_distribution(frame).to_dict()),
        (
            "spend_per_day",
            lambda: charts.spend_per_day(
                pd.DataFrame({"day": pd.date_range("2025-01-01", periods=90).strftime("%Y-%m-%d"), "cost_usd": 0.5})
            ).to_dict(),
        ),
    ]
    for name, build in builders:
        timed(f"chart {name} + to_dict", build, core)
    extra: list[tuple[str, float]] = []
    timed("per_sample", lambda: per_sample(frame), extra)
    timed("disagreements", lambda: disagreements(frame), extra)

    for title, rows in (("report + charts", core), ("per-sample views (not in the 2 s budget)", extra)):
        print(f"\n{title}")
        for name, seconds in rows:
            print(f"  {name:<44}{seconds * 1000:>9.1f} ms")
        print(f"  {'total':<44}{sum(s for _, s in rows) * 1000:>9.1f} ms")
    rec = report["recommendation"]
    print(f"\nrecommendation: {rec['model']} @ {rec['temperature']}: {rec['verdict']}")


if __name__ == "__main__":
    main()
