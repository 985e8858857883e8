"""Cost per 1,000 items of a draft prompt, from :func:`workbench.sweep.estimate` over a sample set."""

from __future__ import annotations

import pandas as pd

from workbench import formatting as fmt
from workbench.datasets import SampleSet
from workbench.pricing import Catalog
from workbench.promptfile import PromptFile
from workbench.sweep import Plan, estimate, parse_models

MAX_SAMPLES = 200  # a stratified subset this big gives the average prompt length closely enough
EFFORTS_SHOWN = ("none", "low", "medium")  # a classifier's usual range; the Sweep page takes any effort


def per_thousand(
    prompt: PromptFile, samples: SampleSet, models: list[str], base_url: str, catalog: Catalog
) -> pd.DataFrame:
    """Per model (and, for reasoning models, per effort): tokens per item and the cost per 1,000 items.

    Built from the same estimate a sweep shows (one call per sample at one temperature, nothing
    stored), scaled from the samples to 1,000 items. Reasoning models get a row per effort among
    none, low and medium that they take (their default when they take none of these): effort, not
    the model alone, sets what an item costs.
    """
    subset = samples.stratified(MAX_SAMPLES, 0) if len(samples) > MAX_SAMPLES else samples
    rows = []
    for model in parse_models(",".join(models)):
        info = catalog.lookup(model)
        efforts: list[str | None] = [None]
        if info is not None and info.reasoning:
            efforts = [e for e in EFFORTS_SHOWN if e in info.efforts] or [None]
        for effort in efforts:
            # Plan directly, not build_plan: the gold labels need not match a draft's labels to count tokens.
            plan = Plan(
                [(0, prompt)], 0, subset, [model], [0.0], 1, base_url, catalog, efforts=[effort] if effort else []
            )
            m = estimate(plan)["models"][0]
            calls = m["calls"] or 1
            cost = m["est_cost_usd"]
            shown_effort = effort or (info.default_effort if info is not None and info.reasoning else None)
            rows.append(
                {
                    "model": model,
                    "effort": shown_effort or "-",
                    "$ per 1k (est.)": fmt.money(cost / calls * 1000) if cost is not None else "unknown",
                    "prompt tok.": round(m["prompt_tokens"] / calls, 1),
                    "answer tok. (est.)": round(m["est_completion_tokens"] / calls, 1),
                }
            )
    return pd.DataFrame(rows)
