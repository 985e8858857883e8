"""Scores of a run: per-cell accuracy, macro-F1, per-class report, confusion, consistency, costs, paired tests.

Input is the *results frame* of ``storage.results.results_frame`` (one row per run item) and the
labels of each prompt version. A *cell* is ``(prompt_version_id, model, reasoning_effort,
temperature)`` (effort None: none was sent; temperature None: none was sent). A row whose
``predicted`` is None is not an answer (an error, or still pending) and is left out of every score.

Everything is vectorised (groupby, bincount, matrix products): the work per response is numpy's,
never a Python loop. Loops run over cells, pairs of cells and distinct values only.

Definitions (checked against scikit-learn in the tests):
- accuracy = correct / n, where n counts answers and ``unparsed`` is an answer that is wrong;
- per-class precision/recall/F1 and macro-F1 as ``sklearn`` with ``labels=prompt_labels`` and
  ``zero_division=0``: ``unparsed`` is a predicted value outside the labels, a label never seen
  nor predicted has F1 = 0 and still counts in the macro mean;
- consistency: among samples with two or more answered repeats in a cell, the share whose answers
  are all the same (``unparsed`` is one value like any label); None when the run has one repeat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench import formatting as fmt
from workbench.errors import InputError
from workbench.pricing import EFFORTS
from workbench.scoring import UNPARSED
from workbench.stats import (
    Z95,
    bootstrap_mean_ci,
    bootstrap_paired_means,
    clustered_wilson,
    effective_size,
    exact_sums,
    mcnemar_exact,
)
from workbench.target import annotate, check_target, check_volume, choose, per_month

CELL = ["prompt_version_id", "model", "reasoning_effort", "temperature"]
REQUIRED = [
    *CELL,
    "prompt_name",
    "sample_index",
    "repeat",
    "gold",
    "predicted",
    "error",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "reused",
]
TOKENS = ["prompt_tokens", "cached_tokens", "completion_tokens"]
SIGNIFICANCE = 0.05


def _with_effort(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``reasoning_effort`` as an ordered category (lowest effort first) and the
    reasoning columns present (frames from before efforts have none: no effort was sent)."""
    extra = {c: None for c in ("reasoning_effort", "reasoning_tokens", "finish_reason") if c not in frame.columns}
    if extra:
        frame = frame.assign(**extra)
    if not isinstance(frame["reasoning_effort"].dtype, pd.CategoricalDtype):
        frame = frame.assign(
            reasoning_effort=pd.Categorical(frame["reasoning_effort"], categories=list(EFFORTS), ordered=True)
        )
    return frame


def _effort(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"results frame is missing column(s): {', '.join(missing)}")


@dataclass
class _Prepared:
    """The frame reduced to integer codes: cell id, gold and predicted label positions."""

    frame: pd.DataFrame
    cells: pd.DataFrame  # one row per cell, in cell order: CELL + prompt_name + k (label count)
    cell: np.ndarray  # cell id per row
    answered: np.ndarray  # bool per row
    gold: np.ndarray  # label position of gold in its prompt's labels, -1 if not a label
    pred: np.ndarray  # label position of predicted, -1 if unparsed/not a label/no answer
    correct: np.ndarray  # bool per row
    labels: dict[int, list[str]]
    kmax: int
    sample: np.ndarray  # sample position per row (0 .. nsamples - 1)
    nsamples: int


@dataclass
class _BySample:
    """The per-sample correct-count table of every cell: right answers and answers, samples x cells."""

    right: np.ndarray  # float64 [sample, cell]
    answers: np.ndarray  # float64 [sample, cell]


def _by_sample(p: _Prepared) -> _BySample:
    ncells = len(p.cells)
    key = p.sample[p.answered] * ncells + p.cell[p.answered]
    size = p.nsamples * ncells
    answers = np.bincount(key, minlength=size).astype(np.float64).reshape(p.nsamples, ncells)
    right = np.bincount(key, weights=p.correct[p.answered], minlength=size).reshape(p.nsamples, ncells)
    return _BySample(right, answers)


def _prepare(frame: pd.DataFrame, labels: Mapping[int, list[str]]) -> _Prepared:
    frame = _with_effort(frame)
    _require(frame, REQUIRED)
    frame = frame.reset_index(drop=True)
    grouped = frame.groupby(CELL, sort=True, dropna=False, observed=True)
    cell = grouped.ngroup().to_numpy()
    label = "prompt_label" if "prompt_label" in frame.columns else "prompt_name"
    cells = grouped.agg(prompt_name=("prompt_name", "first"), prompt_label=(label, "first")).reset_index()
    clean: dict[int, list[str]] = {}
    gold = np.full(len(frame), -1, dtype=np.int64)
    pred = np.full(len(frame), -1, dtype=np.int64)
    gold_codes, gold_uniques = pd.factorize(frame["gold"])  # once over the frame; per prompt only the uniques
    pred_codes, pred_uniques = pd.factorize(frame["predicted"])
    for pv, rows in frame.groupby("prompt_version_id").indices.items():
        if pv not in labels:
            raise InputError(f"no labels given for prompt version {pv} of the results frame")
        clean[pv] = list(dict.fromkeys(labels[pv]))
        index = pd.Index(clean[pv], dtype=object)
        # position of each distinct value in the labels, then -1 appended for NA (code -1)
        gold[rows] = np.append(index.get_indexer(pd.Index(gold_uniques, dtype=object)), -1)[gold_codes[rows]]
        pred[rows] = np.append(index.get_indexer(pd.Index(pred_uniques, dtype=object)), -1)[pred_codes[rows]]
    cells["k"] = [len(clean[pv]) for pv in cells["prompt_version_id"]]
    answered = frame["predicted"].notna().to_numpy()
    correct = answered & (gold >= 0) & (gold == pred)
    kmax = int(cells["k"].max()) if len(cells) else 0
    sample, sample_ids = pd.factorize(frame["sample_index"])
    return _Prepared(frame, cells, cell, answered, gold, pred, correct, clean, kmax, sample, len(sample_ids))


def _num(value: Any) -> float | None:
    """A JSON number: numpy scalars made Python floats, NaN made None."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _key(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "model": row["model"],
        "reasoning_effort": _effort(row.get("reasoning_effort")),
        "temperature": _num(row["temperature"]),
        "prompt_version_id": int(row["prompt_version_id"]),
        "prompt_name": row["prompt_name"],
        "prompt_label": row.get("prompt_label") or row["prompt_name"],
    }


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a[k] == b[k] for k in ("model", "temperature", "prompt_version_id")) and _effort(
        a.get("reasoning_effort")
    ) == _effort(b.get("reasoning_effort"))


def cell_name(cell: Mapping[str, Any], with_prompt: bool = False) -> str:
    """``model @ T`` (``model (effort) @ T`` for a cell sent with a reasoning effort; ``prompt v2 · …`` when
    several prompt versions are compared): the label of a cell.

    The prompt is named by its version label (``name v2``, with its note when it has one), so two
    versions of one prompt are told apart wherever a cell is named.
    """
    t = cell["temperature"]
    effort = _effort(cell.get("reasoning_effort"))
    model = f"{cell['model']} ({effort})" if effort else str(cell["model"])
    name = f"{model} @ {'default' if t is None or pd.isna(t) else f'{t:g}'}"
    return f"{cell.get('prompt_label') or cell['prompt_name']} · {name}" if with_prompt else name


def _consistency(p: _Prepared) -> tuple[dict[int, float | None], dict[int, list[int]]]:
    """Per cell: share of multi-repeat samples whose answers agree, and the samples that flip."""
    ncells = len(p.cells)
    flips: dict[int, list[int]] = {c: [] for c in range(ncells)}
    if len(p.frame) == 0 or int(p.frame["repeat"].max()) < 1:
        return dict.fromkeys(range(ncells)), flips
    ans = pd.DataFrame(
        {
            "cell": p.cell[p.answered],
            "sample": p.frame["sample_index"].to_numpy()[p.answered],
            "pred": p.pred[p.answered],
        }
    )
    per = ans.groupby(["cell", "sample"], sort=True)["pred"].agg(["min", "max", "size"]).reset_index()
    per = per[per["size"] >= 2]
    per["same"] = per["min"] == per["max"]
    share = per.groupby("cell")["same"].mean()
    consistency = {c: (float(share[c]) if c in share.index else None) for c in range(ncells)}
    for c, samples in per.loc[~per["same"]].groupby("cell")["sample"]:
        flips[int(c)] = [int(s) for s in samples]
    return consistency, flips


def _cells(p: _Prepared) -> list[dict[str, Any]]:
    f, ncells, answered = p.frame, len(p.cells), p.answered
    if ncells == 0:
        return []
    k1 = p.kmax + 1
    g = np.where(p.gold >= 0, p.gold, p.kmax)
    q = np.where(p.pred >= 0, p.pred, p.kmax)
    flat = (p.cell * k1 + g) * k1 + q
    tensor = np.bincount(flat[answered], minlength=ncells * k1 * k1).reshape(ncells, k1, k1)

    by = pd.Series(p.cell)
    errors = (~answered & f["error"].notna().to_numpy()).astype(np.int64)
    reused = answered & f["reused"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    empty = f["output"].fillna("").astype(str).str.strip().eq("") if "output" in f.columns else False
    cut_off = answered & (f["finish_reason"] == "length").to_numpy(dtype=bool) & np.asarray(empty, dtype=bool)
    sums = (
        pd.DataFrame(
            {
                "errors": errors,
                "reused": reused.astype(np.int64),
                "cut_off": cut_off.astype(np.int64),
                "reasoning_tokens": pd.to_numeric(f["reasoning_tokens"])
                .where(answered)
                .fillna(0)
                .to_numpy(dtype=np.int64),
                "unknown": (answered & f["cost_usd"].isna().to_numpy()).astype(np.int64),
                **{t: pd.to_numeric(f[t]).where(answered).fillna(0).to_numpy(dtype=np.int64) for t in TOKENS},
            }
        )
        .groupby(by)
        .sum()
    )
    sums = sums.reindex(range(ncells), fill_value=0)
    lat = f["latency_ms"].astype(float).where(answered).groupby(by).quantile([0.5, 0.95]).unstack()
    ttft = f["ttft_ms"].astype(float).where(answered).groupby(by).quantile(0.5)
    costs = exact_sums(f["cost_usd"].astype(float).where(answered), by)
    consistency, flips = _consistency(p)
    table = _by_sample(p)
    seen = table.answers > 0
    n_answers, n_right = table.answers.sum(axis=0), table.right.sum(axis=0)
    acc = np.divide(n_right, n_answers, out=np.zeros(ncells), where=n_answers > 0)
    spread = ((table.right - acc * table.answers) ** 2 * seen).sum(axis=0)
    n_samples, most = seen.sum(axis=0), table.answers.max(axis=0, initial=0)
    effective = effective_size(n_right, n_answers, n_samples, spread, most)
    ci_low, ci_high = clustered_wilson(n_right, n_answers, n_samples, spread, most, Z95)

    out = []
    for c, row in p.cells.iterrows():
        k, labels = int(row["k"]), p.labels[row["prompt_version_id"]]
        sub = tensor[c]
        matrix = sub[:k][:, [*range(k), p.kmax]]
        tp = np.diag(sub)[:k]
        predicted, support = sub[:, :k].sum(axis=0), sub[:k, :].sum(axis=1)
        n, correct = int(sub.sum()), int(tp.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(support > 0, tp / support, 0.0)
            f1 = np.where(predicted + support > 0, 2 * tp / (predicted + support), 0.0)
        cost = None if sums.at[c, "unknown"] else float(costs.get(c, 0))
        out.append(
            {
                "model": row["model"],
                "reasoning_effort": _effort(row["reasoning_effort"]),
                "temperature": _num(row["temperature"]),
                "n": n,
                "accuracy": correct / n if n else None,
                "macro_f1": float(f1.mean()) if n and k else None,
                "unparsed": int(sub[:, p.kmax].sum()),
                "errors": int(sums.at[c, "errors"]),
                **{t: int(sums.at[c, t]) for t in TOKENS},
                "reasoning_tokens": int(sums.at[c, "reasoning_tokens"]),
                "cut_off": int(sums.at[c, "cut_off"]),  # empty answers that hit the length cap while reasoning
                "cost_usd": cost,
                "latency_p50_ms": _num(lat.at[c, 0.5]) if n else None,
                "latency_p95_ms": _num(lat.at[c, 0.95]) if n else None,
                "prompt_version_id": int(row["prompt_version_id"]),
                "prompt_name": row["prompt_name"],
                "prompt_label": row["prompt_label"],
                "correct": correct,
                "accuracy_ci95": [_num(ci_low[c]), _num(ci_high[c])],
                "samples": int(n_samples[c]),
                "repeats": int(most[c]),
                "effective_n": float(effective[c]) if n else None,
                "cost_per_1k_usd": cost / n * 1000 if cost is not None and n else None,
                "cost_per_correct_usd": cost / correct if cost is not None and correct else None,
                "ttft_p50_ms": _num(ttft.get(c)) if n else None,
                "per_class": {
                    label: {
                        "precision": float(precision[i]),
                        "recall": float(recall[i]),
                        "f1": float(f1[i]),
                        "support": int(support[i]),
                    }
                    for i, label in enumerate(labels)
                },
                "confusion": {
                    "labels": list(labels),
                    "columns": [*labels, UNPARSED],
                    "matrix": matrix.astype(int).tolist(),
                },
                "consistency": consistency[c],
                "flips": flips[c],
                "reused": int(sums.at[c, "reused"]),
            }
        )
    return out


def cell_summaries(frame: pd.DataFrame, labels: Mapping[int, list[str]]) -> list[dict[str, Any]]:
    """One dict per cell, in (prompt_version_id, model, effort, temperature) order: the sweep JSON contract."""
    return _cells(_prepare(frame, labels))


def _pair_bootstrap(
    seen: np.ndarray, share: np.ndarray, i: np.ndarray, j: np.ndarray, repeats: int, seed: int, n_boot: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap-over-samples intervals of each pair's mean per-sample difference, by the cheaper method.

    Per pair, one binomial draw per distinct difference (about ``2 * repeats`` of them) and
    resample; or, for many pairs over few samples, shared resamples of all samples and two matrix
    products (``stats.bootstrap_paired_means``). Both are the same bootstrap over samples.
    """
    rng = np.random.default_rng(seed)
    both = (seen[:, i] > 0) & (seen[:, j] > 0)
    diffs = np.where(both, share[:, i] - share[:, j], 0.0)
    samples, pairs = both.shape
    if samples * (10 + 0.5 * pairs) < pairs * 2 * repeats * 100:  # rough cost of each, in draw-equivalents
        return bootstrap_paired_means(diffs, both, rng, n_boot)
    return bootstrap_mean_ci([diffs[both[:, x], x] for x in range(pairs)], rng, n_boot)


def _pairs(p: _Prepared, seed: int, n_boot: int) -> list[dict[str, Any]]:
    ncells = len(p.cells)
    if ncells < 2:
        return []
    table = _by_sample(p)
    seen = (table.answers > 0).astype(np.float64)
    share = np.divide(table.right, table.answers, out=np.zeros_like(table.right), where=table.answers > 0)
    majority = np.sign(2 * table.right - table.answers)  # per sample: +1 mostly right, -1 mostly wrong, 0 tied
    right, wrong = (majority > 0).astype(np.float64), ((majority < 0) & (seen > 0)).astype(np.float64)
    both_n = np.rint(seen.T @ seen).astype(np.int64)  # samples both cells answered
    right_seen = np.rint(right.T @ seen).astype(np.int64)  # [i, j]: samples i got right where j answered too
    only = np.rint(right.T @ wrong).astype(np.int64)  # [i, j]: samples i got right and j wrong
    share_seen = share.T @ seen  # [i, j]: sum of i's per-sample accuracy over samples j answered too
    label_sets = [tuple(sorted(p.labels[pv])) for pv in p.cells["prompt_version_id"]]
    keys = [_key(row) for _, row in p.cells.iterrows()]
    i, j = np.triu_indices(ncells, k=1)
    same = np.array([label_sets[x] == label_sets[y] for x, y in zip(i, j, strict=True)], dtype=bool)
    i, j = i[same], j[same]
    n = both_n[i, j]
    low, high = _pair_bootstrap(seen, share, i, j, int(table.answers.max(initial=1)), seed, n_boot)
    return [
        {
            "a": keys[i[x]],
            "b": keys[j[x]],
            "n": int(n[x]),
            "a_correct": int(right_seen[i[x], j[x]]),
            "b_correct": int(right_seen[j[x], i[x]]),
            "a_only_correct": int(only[i[x], j[x]]),
            "b_only_correct": int(only[j[x], i[x]]),
            "mcnemar_p": mcnemar_exact(only[i[x], j[x]], only[j[x], i[x]]),
            "diff": (share_seen[i[x], j[x]] - share_seen[j[x], i[x]]) / n[x] if n[x] else None,
            "diff_ci95": [_num(low[x]), _num(high[x])],
        }
        for x in range(len(i))
    ]


def pair_tests(
    frame: pd.DataFrame, labels: Mapping[int, list[str]], seed: int = 0, n_boot: int = 2000
) -> list[dict[str, Any]]:
    """Every pair of cells with the same labels, paired on the samples both answered (the sample is the unit).

    ``n`` counts paired samples. A sample is *right* for a cell when more than half of its answers
    there are right, *wrong* when fewer than half are (a tie is neither); ``a_correct`` counts the
    paired samples a got right, ``a_only_correct`` those a got right and b wrong. ``mcnemar_p`` is
    the exact two-sided McNemar test on those discordant samples. ``diff`` is the mean over paired
    samples of (a's share of right answers - b's); ``diff_ci95`` its percentile interval from a
    bootstrap over samples, reproducible for a given ``seed``. With one repeat all of this is the
    classic per-item McNemar and paired bootstrap.
    """
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1, got {n_boot}")
    return _pairs(_prepare(frame, labels), seed, n_boot)


def pareto_frontier(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells no other cell beats on both cost per 1k (lower) and accuracy (higher), cheapest first.

    Cells of unknown cost or without answers are left out; equal cells are all kept.
    """
    kept = [c for c in cells if c.get("cost_per_1k_usd") is not None and c.get("accuracy") is not None]
    if not kept:
        return []
    cost = np.array([c["cost_per_1k_usd"] for c in kept], dtype=float)
    acc = np.array([c["accuracy"] for c in kept], dtype=float)
    no_worse = (cost[None, :] <= cost[:, None]) & (acc[None, :] >= acc[:, None])
    better = (cost[None, :] < cost[:, None]) | (acc[None, :] > acc[:, None])
    dominated = (no_worse & better).any(axis=1)
    order = np.lexsort((-acc, cost))
    return [_key(kept[i]) for i in order if not dominated[i]]


def recommend(
    cells: list[dict[str, Any]],
    pairs: list[dict[str, Any]],
    tolerance: float = 0.02,
    target: float | None = None,
    volume: float | None = None,
) -> dict[str, Any] | None:
    """The cell to ship, with one complete sentence (``summary``) saying why; None when no cell has an answer.

    With a required accuracy (``target``) it is the cheapest cell whose interval is at or above it,
    or, when none is, the most accurate cell with how far it falls short (``target.choose``).
    Without one it is the cheapest cell whose accuracy is within ``tolerance`` of the best, with the
    paired test against the best. The best is the most accurate cell (ties: known and lower cost,
    then more answers). Among the cells within tolerance the one with the lowest known cost per 1k
    wins (ties: higher accuracy); a cell of unknown cost is only chosen when every cell within
    tolerance has unknown cost, and then it is the best itself. ``volume`` (items a month) adds the
    cost a month.
    """
    if not (isinstance(tolerance, int | float) and 0 <= tolerance <= 1) or math.isnan(tolerance):
        raise InputError(f"tolerance must be a number between 0 and 1, got {tolerance!r}")
    target, volume = check_target(target), check_volume(volume)
    scored = [c for c in cells if c.get("accuracy") is not None]
    if not scored:
        return None
    several = len({c["prompt_version_id"] for c in cells}) > 1

    def name(c: Mapping[str, Any]) -> str:
        return cell_name(c, several)

    def best_key(c: dict[str, Any]) -> tuple[Any, ...]:
        cost = c["cost_per_1k_usd"]
        return (c["accuracy"], cost is not None, -cost if cost is not None else 0.0, c["n"])

    best = max(scored, key=best_key)
    extra: dict[str, Any] = {"target": target, "meets_target": None, "shortfall": None}
    if target is not None:
        rec, said = choose(annotate(scored, target, volume), target, volume, name)
        extra.update(meets_target=said["meets_target"], shortfall=said["shortfall"])
        summary = said["summary"]
        priced: list[dict[str, Any]] = [rec] if rec["cost_per_1k_usd"] is not None else []
    else:
        within = [c for c in scored if c["accuracy"] >= best["accuracy"] - tolerance - 1e-12]
        priced = [c for c in within if c["cost_per_1k_usd"] is not None]
        rec = min(priced, key=lambda c: (c["cost_per_1k_usd"], -c["accuracy"], -c["n"])) if priced else best
        summary = ""
    is_best = _same(rec, best)
    p_value, diff, paired = None, None, 0
    if not is_best:
        for pair in pairs:
            if (_same(pair["a"], rec) and _same(pair["b"], best)) or (_same(pair["a"], best) and _same(pair["b"], rec)):
                p_value, paired = pair["mcnemar_p"], pair.get("n", 0)
                diff = pair["diff"] if _same(pair["a"], rec) else (-pair["diff"] if pair["diff"] is not None else None)
    over = f"over {paired:,} paired samples"
    if is_best:
        verdict = "is the best"
    elif p_value is None:
        verdict = "not tested against the best (no paired answers)"
    elif p_value >= SIGNIFICANCE:
        verdict = f"no significant difference from the best ({fmt.p_value(p_value)})"
    elif diff is not None and diff > 0:
        verdict = f"significantly better than the best on the paired samples ({fmt.p_value(p_value)})"
    else:
        verdict = f"significantly worse than the best ({fmt.p_value(p_value)})"
    points = f"{tolerance * 100:g} points"
    month = per_month(rec["cost_per_1k_usd"], volume)
    at_volume = "" if month is None or volume is None else f" ({fmt.money(month)} a month at {volume:,.0f} items)"
    evidence = f"{fmt.percent(rec['accuracy'])}, 95% interval {fmt.interval(rec.get('accuracy_ci95'))}"
    if not priced:
        reason = (
            f"{name(rec)} is the most accurate cell ({evidence}); costs are unknown for every cell within {points} "
            "of it, so none can be called cheaper"
        )
    elif is_best:
        reason = (
            f"{name(rec)} is the most accurate cell ({evidence}) and no cell within {points} of it is cheaper: "
            f"{fmt.money(rec['cost_per_1k_usd'])} per 1,000 items{at_volume}"
        )
    else:
        test = {
            "is the best": "",
            "not tested against the best (no paired answers)": "; it was not tested against the best (no paired "
            "samples)",
        }.get(verdict, f"; McNemar {over}: {verdict}")
        reason = (
            f"{name(rec)} is the cheapest cell within {points} of the best accuracy: {fmt.percent(rec['accuracy'])} "
            f"vs {fmt.percent(best['accuracy'])} for {name(best)}, at {fmt.money(rec['cost_per_1k_usd'])} vs "
            f"{fmt.money(best['cost_per_1k_usd'])} per 1,000 items{at_volume}{test}"
        )
    fields = (
        "model",
        "reasoning_effort",
        "temperature",
        "prompt_version_id",
        "prompt_name",
        "prompt_label",
        "accuracy",
        "cost_per_1k_usd",
    )
    return {
        **{k: rec.get(k, rec["prompt_name"] if k == "prompt_label" else None) for k in fields},
        "best": {k: best.get(k, best["prompt_name"] if k == "prompt_label" else None) for k in fields},
        "mcnemar_p": p_value,
        "verdict": verdict,
        "reason": reason,
        **extra,
        "cost_per_month_usd": month,
        "summary": summary or f"{reason}.",
    }


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_report(
    frame: pd.DataFrame,
    labels: Mapping[int, list[str]],
    run_id: int,
    tolerance: float = 0.02,
    target: float | None = None,
    volume: float | None = None,
) -> dict[str, Any]:
    """Everything the report screens, the CLI and the CSV export show for a run, JSON-serialisable.

    ``target`` is a required accuracy (a share, 0.9 for 90%): each cell gets ``meets_target``
    yes/no/unclear and the recommendation answers "good enough?"; a run without gold labels cannot
    be held to one (a one-line error). ``volume`` (items a month) adds each cell's cost a month.
    """
    target, volume = check_target(target), check_volume(volume)
    prepared = _prepare(frame, labels)
    if target is not None and len(prepared.frame) and not (prepared.gold >= 0).any():
        raise InputError(
            f"run {run_id} has no gold labels among its prompts' labels, so no accuracy can be held to a target"
        )
    cells = annotate(_cells(prepared), target, volume)
    pairs = _pairs(prepared, seed=0, n_boot=2000)
    return _clean(
        {
            "run_id": run_id,
            "cells": cells,
            "pairs": pairs,
            "pareto": pareto_frontier(cells),
            "recommendation": recommend(cells, pairs, tolerance, target, volume),
            "tolerance": tolerance,
            "target": target,
            "volume_per_month": volume,
        }
    )


# --- per-sample views --------------------------------------------------------------------------

SAMPLE_COLUMNS = [
    "prompt_version_id",
    "prompt_name",
    "model",
    "reasoning_effort",
    "temperature",
    "sample_index",
    "repeat",
    "gold",
    "predicted",
    "correct",
    "output",
    "error",
    "cost_usd",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "reused",
]


def _correct(frame: pd.DataFrame) -> pd.Series:
    """True/False per answered row, NA where there is no answer."""
    answered = frame["predicted"].notna()
    right = answered & (frame["predicted"] == frame["gold"]) & (frame["predicted"] != UNPARSED)
    return right.astype("boolean").where(answered, pd.NA)


def per_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run item, ordered by cell, sample and repeat (the samples CSV)."""
    frame = _with_effort(frame)
    _require(frame, [c for c in SAMPLE_COLUMNS if c != "correct"])
    columns = [*SAMPLE_COLUMNS[:2], "prompt_label", *SAMPLE_COLUMNS[2:]] if "prompt_label" in frame else SAMPLE_COLUMNS
    out = frame.assign(correct=_correct(frame))[columns]
    return out.sort_values([*CELL, "sample_index", "repeat"], kind="stable").reset_index(drop=True)


def hard_set(frame: pd.DataFrame) -> list[int]:
    """Samples whose answers are not all the same label: cells disagree, or a cell's repeats flip."""
    _require(frame, ["sample_index", "predicted"])
    codes = pd.factorize(frame["predicted"])[0]
    answered = codes >= 0
    spread = pd.Series(codes[answered]).groupby(frame["sample_index"].to_numpy()[answered]).agg(["min", "max"])
    return [int(s) for s in spread.index[spread["min"] != spread["max"]]]


def disagreements(frame: pd.DataFrame) -> pd.DataFrame:
    """The hard set as a table: sample_index, gold, variables, then one column per cell of its answers.

    Each cell column holds that cell's parsed answers in repeat order joined by " / " (None when the
    cell has no answer for the sample). Columns are named ``model @ T`` (prefixed by the prompt
    version's label when the run compares several prompt versions).
    """
    frame = _with_effort(frame)
    _require(frame, [*CELL, "prompt_name", "sample_index", "repeat", "gold", "predicted", "variables"])
    hard = pd.Index(hard_set(frame))
    grouped = frame.groupby(CELL, sort=True, dropna=False, observed=True)
    label = "prompt_label" if "prompt_label" in frame.columns else "prompt_name"
    cells = grouped.agg(prompt_name=("prompt_name", "first"), prompt_label=(label, "first")).reset_index()
    several = cells["prompt_version_id"].nunique() > 1
    names = [cell_name(row, several) for _, row in cells.iterrows()]
    cell = grouped.ngroup().to_numpy()
    row = hard.get_indexer(frame["sample_index"])
    keep = (row >= 0) & frame["predicted"].notna().to_numpy()
    row, cell, repeat = row[keep], cell[keep], frame["repeat"].to_numpy()[keep]
    order = np.lexsort((repeat, cell, row))
    key = (row * len(names) + cell)[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], dtype=np.int64)
    pieces = frame["predicted"].to_numpy(dtype=object)[keep][order]
    later = np.ones(len(pieces), dtype=bool)
    later[starts] = False
    pieces[later] = " / " + pieces[later]  # object arrays: string concatenation element-wise, in C
    table = np.full((len(hard), len(names)), None, dtype=object)
    if len(starts):
        table[key[starts] // len(names), key[starts] % len(names)] = np.add.reduceat(pieces, starts)
    first = frame[frame["sample_index"].isin(hard)].drop_duplicates("sample_index").set_index("sample_index")
    out = first.reindex(hard)[["gold", "variables"]].rename_axis("sample_index").reset_index()
    return pd.concat([out, pd.DataFrame(table, columns=names)], axis=1)


def samples_for(
    frame: pd.DataFrame, cell: Mapping[str, Any], gold: str | None = None, predicted: str | None = None
) -> pd.DataFrame:
    """The answered rows of one cell (a confusion-matrix square when ``gold``/``predicted`` are given)."""
    frame = _with_effort(frame)
    _require(frame, [*CELL, "sample_index", "repeat", "gold", "predicted", "output", "variables"])
    missing = [k for k in ("model", "temperature") if k not in cell]
    if missing:
        raise InputError(f"cell is missing {', '.join(missing)}")
    mask = frame["predicted"].notna() & (frame["model"] == cell["model"])
    if "reasoning_effort" in cell:
        effort = _effort(cell["reasoning_effort"])
        efforts = frame["reasoning_effort"]
        mask &= efforts.isna() if effort is None else (efforts == effort).fillna(False).to_numpy(dtype=bool)
    t = cell["temperature"]
    temps = frame["temperature"].astype(float)
    mask &= temps.isna() if t is None else np.isclose(temps, float(t), rtol=0, atol=1e-9)
    if cell.get("prompt_version_id") is not None:
        mask &= frame["prompt_version_id"] == cell["prompt_version_id"]
    if gold is not None:
        mask &= frame["gold"] == gold
    if predicted is not None:
        mask &= frame["predicted"] == predicted
    cols = ["sample_index", "repeat", "gold", "predicted", "output", "variables"]
    extra = [c for c in ("cost_usd", "latency_ms") if c in frame.columns]
    return frame.loc[mask, cols + extra].sort_values(["sample_index", "repeat"]).reset_index(drop=True)
