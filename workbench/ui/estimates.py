"""Cost per 1,000 items of a draft prompt, from :func:`workbench.sweep.estimate` over a sample set."""

from __future__ import annotations

import pandas as pd

from workbench import formatting as fmt
from workbench.datasets import SampleSet
from workbench.pricing import Catalog
from workbench.promptfile import PromptFile
from workbench.sweep import Plan, estimate, parse_models

MAX_SAMPLES = 200  # a stratified subset this big gives the average prompt length closely enough


def per_thousand(
    prompt: PromptFile, samples: SampleSet, models: list[str], base_url: str, catalog: Catalog
) -> pd.DataFrame:
    """Per model: prompt tokens and estimated answer tokens per item, and the cost per 1,000 items.

    Built from the same estimate a sweep shows (one call per sample at one temperature, nothing
    stored), scaled from the samples to 1,000 items.
    """
    subset = samples.stratified(MAX_SAMPLES, 0) if len(samples) > MAX_SAMPLES else samples
    # Plan directly, not build_plan: the gold labels need not match a draft's labels to count tokens.
    plan = Plan([(0, prompt)], 0, subset, parse_models(",".join(models)), [0.0], 1, base_url, catalog)
    est = estimate(plan)
    rows = []
    for m in est["models"]:
        calls = m["calls"] or 1
        cost = m["est_cost_usd"]
        rows.append(
            {
                "model": m["model"],
                "per 1k items (est.)": fmt.money(cost / calls * 1000) if cost is not None else "unknown",
                "prompt tokens": round(m["prompt_tokens"] / calls, 1),
                "answer tokens (est.)": round(m["est_completion_tokens"] / calls, 1),
            }
        )
    return pd.DataFrame(rows)
