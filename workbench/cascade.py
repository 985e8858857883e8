"""Cascades: the cheap cell answers first, the strong cell only where the cheap one is unsure.

Simulated from a stored run without a single new call. Input is the results frame
(``storage.results.results_frame``) of a run holding both cells on the same samples, plus, for the
``logprob`` signal, each answer's probability (``storage.results.answer_probabilities``).

Definitions (one place for each):

- A cell's answer for a sample from its first ``k`` repeats is its most frequent parsed label
  (``unparsed`` answers do not vote); a tie goes to the label listed first in the prompt's labels,
  so the order the calls came back in never matters. No parsed label at all is ``unparsed``.
- Confidence signals of the cheap answer from its first ``k`` calls, each in [0, 1]:
  ``agreement`` = votes of the answer / k (self-consistency; needs k >= 2), ``logprob`` = the mean
  over the k calls of the call's answer probability (:mod:`workbench.confidence`) where the call
  said the answer, else 0; ``parsed`` = 1 when a label was parsed, else 0. An unparsed answer has
  confidence 0 on every signal.
- A policy is (signal, threshold, k): a sample is *escalated* when its confidence < threshold; it
  then takes the strong cell's answer (from its first ``strong_calls`` repeats). Its cost is the
  billed cost of the k cheap calls plus, when escalated, the strong calls; its latency the slowest
  cheap call (they go out together) plus, when escalated, the slowest strong call.
- Accuracy is per sample (one final answer per sample), so its Wilson interval is over samples:
  repeats are inside a sample's answer and never shrink it.
- Honest selection: a *family* is (signal, k); its threshold is chosen by a rule (the lowest
  threshold whose accuracy reaches the goal: within ``tolerance`` of the strong cell, or ``target``;
  else the most accurate) on 4/5 of the samples and scored on the other fifth, five times
  (cross-validation over samples). The held-out figures pool those five scored fifths; the
  in-sample figures apply the rule to all samples. The recommendation is the family with the
  cheapest held-out cost whose held-out accuracy reaches the goal, at its in-sample threshold,
  when it costs less than the strong cell alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from workbench import calibration
from workbench.cell_choice import EFFORT, cell_mask, cell_text, resolve_cell, same_temperature
from workbench.errors import InputError
from workbench.formatting import money, percent
from workbench.metrics import _clean, _num, cell_name
from workbench.stats import Z95, wilson_interval

SIGNALS = ("agreement", "logprob", "parsed")
FOLDS = 5
MIN_SAMPLES = 4 * FOLDS
MAX_THRESHOLDS = 40
# --------------------------------------------------------------------------- answers per sample


@dataclass
class CellAnswers:
    """One cell's answers on the kept samples, one column per repeat (repeat order)."""

    cell: dict[str, Any]
    pred: np.ndarray  # (n, r) label position, -1 unparsed
    cost: np.ndarray  # (n, r) billed USD per call, NaN when unknown
    latency: np.ndarray  # (n, r) float ms
    prob: np.ndarray  # (n, r) answer probability from logprobs, NaN where not recorded

    @property
    def repeats(self) -> int:
        return int(self.pred.shape[1])


@dataclass
class CascadeData:
    """The two cells side by side on the samples both answered completely."""

    run_id: int | None
    samples: np.ndarray  # sample_index per kept sample, ascending
    gold: np.ndarray  # label position of the gold label, -1 when it is not a label
    labels: list[str]
    cheap: CellAnswers
    strong: CellAnswers
    left_out: int  # samples without every repeat of both cells answered
    rows: dict[int, int]  # sample_index -> CSV row / JSONL line in its file (0 unknown)


def _answers(frame: pd.DataFrame, cell: dict[str, Any], labels: list[str], probs: pd.Series | None) -> pd.DataFrame:
    rows = frame[cell_mask(frame, cell) & frame["predicted"].notna()]
    index = pd.Index(labels, dtype=object)
    out = pd.DataFrame(
        {
            "sample_index": rows["sample_index"].to_numpy(),
            "repeat": rows["repeat"].to_numpy(),
            "pred": index.get_indexer(pd.Index(rows["predicted"], dtype=object)),
            "cost": rows["cost_usd"].astype(float).to_numpy(),
            "latency": rows["latency_ms"].astype(float).to_numpy(),
            "prob": (
                rows["item_id"].map(probs).astype(float).to_numpy()
                if probs is not None and "item_id" in rows.columns
                else np.full(len(rows), np.nan)
            ),
        }
    )
    return out


def _grid(table: pd.DataFrame, samples: np.ndarray, repeats: int, column: str, fill: Any) -> np.ndarray:
    position = pd.Index(samples).get_indexer(table["sample_index"])
    keep = (position >= 0) & (table["repeat"].to_numpy() < repeats)
    dtype = np.int64 if column == "pred" else float
    grid = np.full((len(samples), repeats), fill, dtype=dtype)
    grid[position[keep], table["repeat"].to_numpy()[keep]] = table[column].to_numpy()[keep]
    return grid


def prepare(
    frame: pd.DataFrame,
    labels: Mapping[int, list[str]],
    cheap: str | Mapping[str, Any],
    strong: str | Mapping[str, Any],
    probabilities: pd.Series | None = None,
    run_id: int | None = None,
    rows: Mapping[int, int] | None = None,
) -> CascadeData:
    """Both cells' answers per sample; one-line errors for a missing cell, no gold labels, too few samples."""
    cheap_cell = resolve_cell(frame, cheap, "cheap") if isinstance(cheap, str) else dict(cheap)
    strong_cell = resolve_cell(frame, strong, "strong") if isinstance(strong, str) else dict(strong)
    same = all(cheap_cell.get(k) == strong_cell.get(k) for k in ("prompt_version_id", "model", EFFORT)) and (
        same_temperature(cheap_cell["temperature"], strong_cell["temperature"])
    )
    if same:
        raise InputError(f"the cheap and the strong cell are the same ({cell_text(cheap_cell)}): pick two cells")
    cheap_labels = list(dict.fromkeys(labels[cheap_cell["prompt_version_id"]]))
    strong_labels = list(dict.fromkeys(labels[strong_cell["prompt_version_id"]]))
    if sorted(cheap_labels) != sorted(strong_labels):
        raise InputError("the cheap and the strong cell's prompts have different labels: a cascade needs the same")
    gold_text = (
        frame.loc[cell_mask(frame, cheap_cell)].drop_duplicates("sample_index").set_index("sample_index")["gold"]
    )
    if gold_text.isna().all() or (gold_text.astype(str).str.strip() == "").all():
        raise InputError(f"run {run_id}: the samples have no gold labels, so no accuracy can be measured")
    a = _answers(frame, cheap_cell, cheap_labels, probabilities)
    b = _answers(frame, strong_cell, cheap_labels, probabilities)
    if a.empty:
        raise InputError(f"the cheap cell {cell_text(cheap_cell)} has no answers in run {run_id}")
    if b.empty:
        raise InputError(f"the strong cell {cell_text(strong_cell)} has no answers in run {run_id}")
    r_a, r_b = int(a["repeat"].max()) + 1, int(b["repeat"].max()) + 1
    complete_a = a.groupby("sample_index")["repeat"].nunique() == r_a
    complete_b = b.groupby("sample_index")["repeat"].nunique() == r_b
    both = sorted(set(complete_a.index[complete_a]) & set(complete_b.index[complete_b]))
    every = set(gold_text.index)
    samples = np.array(both, dtype=np.int64)
    if len(samples) < MIN_SAMPLES:
        raise InputError(
            f"too few samples for cross-validation: {len(samples)} sample(s) of run {run_id} have every repeat of "
            f"both cells answered; a cascade needs at least {MIN_SAMPLES} ({FOLDS} folds)"
        )
    index = pd.Index(cheap_labels, dtype=object)
    gold = index.get_indexer(pd.Index(gold_text.reindex(samples).to_numpy(), dtype=object))
    return CascadeData(
        run_id,
        samples,
        gold,
        cheap_labels,
        CellAnswers(
            cheap_cell,
            _grid(a, samples, r_a, "pred", -1),
            _grid(a, samples, r_a, "cost", np.nan),
            _grid(a, samples, r_a, "latency", np.nan),
            _grid(a, samples, r_a, "prob", np.nan),
        ),
        CellAnswers(
            strong_cell,
            _grid(b, samples, r_b, "pred", -1),
            _grid(b, samples, r_b, "cost", np.nan),
            _grid(b, samples, r_b, "latency", np.nan),
            _grid(b, samples, r_b, "prob", np.nan),
        ),
        len(every) - len(samples),
        dict(rows or {}),
    )


def majority(pred: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``pred`` (label positions, -1 unparsed): the most frequent label and its votes.

    Ties go to the label first in the labels; a row with no parsed label answers -1 with 0 votes.
    """
    n = pred.shape[0]
    counts = np.zeros((n, max(n_labels, 1)), dtype=np.int64)
    rows = np.arange(n)
    for j in range(pred.shape[1]):
        parsed = pred[:, j] >= 0
        np.add.at(counts, (rows[parsed], pred[parsed, j]), 1)
    answer = counts.argmax(axis=1)
    votes = counts.max(axis=1)
    return np.where(votes > 0, answer, -1), votes


def exact_total(costs: np.ndarray) -> Decimal | None:
    """The exact sum of billed costs (floats whose ``repr`` is the intended decimal); None when any is unknown.

    Costs repeat a lot (same tokens, same price), so each distinct value is made a Decimal once and
    multiplied by its count, as ``stats.exact_sums`` does.
    """
    flat = np.asarray(costs, dtype=float).ravel()
    if np.isnan(flat).any():
        return None
    values, counts = np.unique(flat, return_counts=True)
    return sum((Decimal(repr(float(v))) * int(c) for v, c in zip(values, counts, strict=True)), Decimal(0))


@dataclass
class Side:
    """What k calls of one cell give per sample: answer, right or wrong, exact cost, latency, confidences."""

    calls: int
    answer: np.ndarray
    correct: np.ndarray
    cost: np.ndarray  # (n, k) billed USD of each call used, NaN when unknown
    latency: np.ndarray
    confidence: dict[str, np.ndarray | None]  # per signal; None when unavailable


def side(data: CascadeData, answers: CellAnswers, k: int) -> Side:
    pred = answers.pred[:, :k]
    answer, votes = majority(pred, len(data.labels))
    correct = (answer >= 0) & (answer == data.gold)
    parsed = answer >= 0
    probs = answers.prob[:, :k]
    logprob: np.ndarray | None = None
    if not np.isnan(probs).any():
        said = (pred == answer[:, None]) & parsed[:, None]
        total = np.zeros(len(answer))
        for j in range(k):  # left to right, as the exported code adds them
            total = total + np.where(said[:, j], probs[:, j], 0.0)
        logprob = np.where(parsed, total / k, 0.0)
    confidence: dict[str, np.ndarray | None] = {
        "agreement": votes / k if k >= 2 else None,
        "logprob": logprob,
        "parsed": parsed.astype(float),
    }
    latency = np.nanmax(answers.latency[:, :k], axis=1) if k else np.zeros(len(answer))
    return Side(k, answer, correct, answers.cost[:, :k], latency, confidence)


def unavailable_reason(data: CascadeData, signal: str) -> str | None:
    """Why a signal cannot be used on this run, or None when it can."""
    if signal == "agreement" and data.cheap.repeats < 2:
        return "the cheap cell has one answer per sample: sweep it with --repeats 2 or more (at a temperature > 0)"
    if signal == "logprob" and np.isnan(data.cheap.prob[:, :1]).any():
        recorded = int((~np.isnan(data.cheap.prob[:, 0])).sum())
        return (
            "the cheap cell's answers carry no logprobs (sweep with --logprobs on a model that returns them)"
            if recorded == 0
            else f"logprobs were recorded for {recorded} of {len(data.samples)} samples only"
        )
    return None


# --------------------------------------------------------------------------- policies


def thresholds(signal: str, confidence: np.ndarray, k: int) -> np.ndarray:
    """Candidate thresholds of a family, ascending, starting with 0 (never escalate).

    ``agreement``: j / k for j = 1..k; ``parsed``: 1; ``logprob``: midpoints between consecutive
    distinct confidences (so a rounding difference in shipped code cannot move a sample across),
    thinned to at most :data:`MAX_THRESHOLDS` by quantile.
    """
    if signal == "agreement":
        values = [j / k for j in range(1, k + 1)]
    elif signal == "parsed":
        values = [1.0]
    else:
        distinct = [float(v) for v in np.unique(confidence)]
        if distinct and distinct[-1] < 1.0:
            distinct.append(1.0)  # one more threshold above every answer: escalate all but the certain
        gaps = list(itertools.pairwise(distinct))
        if len(gaps) > MAX_THRESHOLDS:
            gaps = [gaps[i] for i in np.unique(np.round(np.linspace(0, len(gaps) - 1, MAX_THRESHOLDS)).astype(int))]
        values = [_between(low, high) for low, high in gaps]
    return np.array([0.0, *sorted(set(values))], dtype=float)


def _between(low: float, high: float) -> float:
    """The shortest decimal strictly between ``low`` and ``high`` near their midpoint (0.725, not 0.72500001)."""
    middle = (low + high) / 2.0
    for digits in range(1, 18):
        value = round(middle, digits)
        if low < value < high:
            return value
    return middle


@dataclass
class Family:
    signal: str
    k: int
    cheap: Side
    thresholds: np.ndarray  # (m,)
    escalate: np.ndarray  # (m, n) bool
    correct: np.ndarray  # (m, n) bool


def _family(signal: str, cheap: Side, strong: Side) -> Family | None:
    conf = cheap.confidence[signal]
    if conf is None:
        return None
    ts = thresholds(signal, conf, cheap.calls)
    escalate = conf[None, :] < ts[:, None]
    correct = np.where(escalate, strong.correct[None, :], cheap.correct[None, :])
    return Family(signal, cheap.calls, cheap, ts, escalate, correct)


def _cost_total(cheap: Side, strong: Side, escalate: np.ndarray, keep: np.ndarray) -> Decimal | None:
    """Exact USD of the calls one policy makes on the kept samples; None when a used call's cost is unknown."""
    cheap_total = exact_total(cheap.cost[keep])
    strong_total = exact_total(strong.cost[keep & escalate])
    return None if cheap_total is None or strong_total is None else cheap_total + strong_total


def _cost_per_1k(cheap: Side, strong: Side, escalate: np.ndarray, keep: np.ndarray | None = None) -> Decimal | None:
    """Exact USD per 1,000 samples of one policy over the kept samples; None when a used call's cost is unknown."""
    keep = np.ones(len(escalate), dtype=bool) if keep is None else keep
    total = _cost_total(cheap, strong, escalate, keep)
    return None if total is None or not keep.any() else total * 1000 / int(keep.sum())


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _figures(
    correct: np.ndarray, escalate: np.ndarray, cheap: Side, strong: Side, latency: bool = True
) -> dict[str, Any]:
    n = len(correct)
    right = int(correct.sum())
    low, high = wilson_interval(right, n, Z95)
    out: dict[str, Any] = {
        "n": n,
        "correct": right,
        "accuracy": right / n if n else None,
        "accuracy_ci95": [low, high],
        "escalated": int(escalate.sum()),
        "escalation_rate": float(escalate.mean()) if n else None,
        "cost_per_1k_usd": _usd(_cost_per_1k(cheap, strong, escalate)),
    }
    if latency:
        per = cheap.latency + np.where(escalate, strong.latency, 0.0)
        p50, p95 = np.nanpercentile(per, [50, 95]) if n else (None, None)
        out.update(
            {
                "latency_mean_ms": float(np.nanmean(per)) if n else None,
                "latency_p50_ms": _num(p50),
                "latency_p95_ms": _num(p95),
            }
        )
    return out


def _goal(strong_accuracy: float, tolerance: float, target: float | None) -> float:
    return target if target is not None else strong_accuracy - tolerance


def _choose(correct: np.ndarray, goal: float) -> int:
    """Index of the lowest threshold whose accuracy reaches ``goal``, else of the most accurate (lowest first)."""
    accuracy = correct.mean(axis=1)
    ok = np.flatnonzero(accuracy >= goal - 1e-12)
    return int(ok[0]) if len(ok) else int(np.argmax(accuracy))


def folds(n: int, seed: int = 0, k: int = FOLDS) -> np.ndarray:
    """Fold number per sample: a seeded shuffle dealt round-robin into ``k`` folds of near-equal size."""
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return fold


def _cross_validate(family: Family, strong: Side, fold: np.ndarray, tolerance: float, target: float | None):
    n = family.correct.shape[1]
    held_correct = np.zeros(n, dtype=bool)
    held_escalate = np.zeros(n, dtype=bool)
    chosen = []
    for f in range(int(fold.max()) + 1):
        test = fold == f
        train = ~test
        goal = _goal(float(strong.correct[train].mean()), tolerance, target)
        i = _choose(family.correct[:, train], goal)
        chosen.append(float(family.thresholds[i]))
        held_correct[test] = family.correct[i, test]
        held_escalate[test] = family.escalate[i, test]
    return held_correct, held_escalate, chosen


def _row(data: CascadeData, s: int) -> int:
    return int(data.samples[s]) + 1


def simulate(
    data: CascadeData,
    tolerance: float = 0.02,
    target: float | None = None,
    strong_calls: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """The cascade report (JSON-ready): signals, the single-cell ends, every policy, each family's
    cross-validated choice, the recommendation and calibration per signal."""
    if not (isinstance(tolerance, int | float) and 0 <= tolerance <= 1) or math.isnan(tolerance):
        raise InputError(f"tolerance must be a number between 0 and 1, got {tolerance!r}")
    if target is not None and (not isinstance(target, int | float) or not 0 <= target <= 1 or math.isnan(target)):
        raise InputError(f"--target must be an accuracy between 0 and 1, got {target!r}")
    if not 1 <= strong_calls <= data.strong.repeats:
        raise InputError(
            f"--strong-calls {strong_calls}: the strong cell has {data.strong.repeats} answer(s) per sample"
        )
    n = len(data.samples)
    strong = side(data, data.strong, strong_calls)
    none = np.zeros(n, dtype=bool)
    everything = np.ones(n, dtype=bool)
    cheap_one = side(data, data.cheap, 1)
    strong_alone = _figures(strong.correct, everything, _zero_side(strong), strong)
    strong_alone["strong_calls_per_sample"] = strong_calls
    cheap_alone = _figures(cheap_one.correct, none, cheap_one, strong)
    cheap_alone["cheap_calls_per_sample"] = 1

    signals = [{"signal": s, "available": (why := unavailable_reason(data, s)) is None, "reason": why} for s in SIGNALS]
    usable = [signal for signal in SIGNALS if unavailable_reason(data, signal) is None]
    fold = folds(n, seed)
    goal_all = _goal(float(strong.correct.mean()), tolerance, target)

    policies: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    families: dict[tuple[str, int], Family] = {}
    for k in range(1, data.cheap.repeats + 1):
        cheap = side(data, data.cheap, k)
        policies.append(
            {
                "signal": "none",
                "threshold": None,
                "cheap_calls_per_sample": k,
                **_figures(cheap.correct, none, cheap, strong),
            }
        )
        for signal in usable:
            family = _family(signal, cheap, strong)
            if family is None:
                continue
            families[(signal, k)] = family
            for i, t in enumerate(family.thresholds):
                if t == 0:
                    continue
                policies.append(
                    {
                        "signal": signal,
                        "threshold": float(t),
                        "cheap_calls_per_sample": k,
                        **_figures(family.correct[i], family.escalate[i], cheap, strong),
                    }
                )
            i = _choose(family.correct, goal_all)
            held_correct, held_escalate, fold_thresholds = _cross_validate(family, strong, fold, tolerance, target)
            held = _figures(held_correct, held_escalate, cheap, strong, latency=False)
            chosen.append(
                {
                    "signal": signal,
                    "cheap_calls_per_sample": k,
                    "threshold": float(family.thresholds[i]),
                    "in_sample": _figures(family.correct[i], family.escalate[i], cheap, strong),
                    "held_out": {**held, "fold_thresholds": fold_thresholds},
                }
            )

    recommended, reason = _recommend(data, chosen, families, strong, strong_alone, goal_all, tolerance, target)
    return _clean(
        {
            "run_id": data.run_id,
            "cheap": {**data.cheap.cell, "name": cell_name(data.cheap.cell), "cell": cell_text(data.cheap.cell)},
            "strong": {**data.strong.cell, "name": cell_name(data.strong.cell), "cell": cell_text(data.strong.cell)},
            "labels": data.labels,
            "samples": n,
            "left_out": data.left_out,
            "cheap_repeats": data.cheap.repeats,
            "strong_repeats": data.strong.repeats,
            "tolerance": tolerance,
            "target": target,
            "goal_accuracy": goal_all,
            "folds": FOLDS,
            "seed": seed,
            "signals": signals,
            "cheap_alone": cheap_alone,
            "strong_alone": strong_alone,
            "policies": policies,
            "selected": chosen,
            "recommended": recommended,
            "reason": reason,
            "calibration": calibration_by_signal(data, usable),
        }
    )


def _zero_side(strong: Side) -> Side:
    """No cheap call at all (the strong cell alone): zero cost and latency before the strong call."""
    n = len(strong.answer)
    return Side(0, strong.answer, strong.correct, np.zeros((n, 0)), np.zeros(n), {})


def _recommend(
    data: CascadeData,
    chosen: list[dict[str, Any]],
    families: dict[tuple[str, int], Family],
    strong: Side,
    strong_alone: dict[str, Any],
    goal: float,
    tolerance: float,
    target: float | None,
) -> tuple[dict[str, Any] | None, str]:
    aim = (
        f"the required {percent(target)}"
        if target is not None
        else f"within {tolerance * 100:g} points of the strong cell"
    )
    reaching = [
        c
        for c in chosen
        if c["held_out"]["accuracy"] is not None
        and c["held_out"]["accuracy"] >= goal - 1e-12
        and c["held_out"]["cost_per_1k_usd"] is not None
    ]
    if not chosen:
        return None, "no confidence signal is available for the cheap cell"
    if not reaching and any(c["held_out"]["accuracy"] >= goal - 1e-12 for c in chosen):
        return None, (
            f"cascades reach {aim} ({percent(goal)}) but their cost is unknown: a model's price is not in the catalog "
            "(add it via WORKBENCH_CATALOG)"
        )
    if not reaching:
        best = max(chosen, key=lambda c: c["held_out"]["accuracy"] or 0)
        return None, (
            f"no cascade reaches {aim} ({percent(goal)}) on held-out samples; the best, {best['signal']} with "
            f"{best['cheap_calls_per_sample']} cheap call(s), reaches {percent(best['held_out']['accuracy'])}"
        )
    pick = min(
        reaching,
        key=lambda c: (c["held_out"]["cost_per_1k_usd"], -c["held_out"]["accuracy"], c["cheap_calls_per_sample"]),
    )
    family = families[(pick["signal"], pick["cheap_calls_per_sample"])]
    i = int(np.flatnonzero(family.thresholds == pick["threshold"])[0])
    escalate = family.escalate[i]
    inside = pick["in_sample"]
    strong_cost = strong_alone["cost_per_1k_usd"]
    if strong_cost is not None and inside["cost_per_1k_usd"] is not None and inside["cost_per_1k_usd"] >= strong_cost:
        return None, (
            f"the cheapest cascade that reaches {aim}, {pick['signal']} with {pick['cheap_calls_per_sample']} cheap "
            f"call(s), costs {money(inside['cost_per_1k_usd'])} per 1k items, not less than the strong cell "
            f"alone ({money(strong_cost)})"
        )
    total = _cost_total(family.cheap, strong, escalate, np.ones(len(escalate), dtype=bool))
    held = pick["held_out"]
    recommended = {
        "signal": pick["signal"],
        "threshold": pick["threshold"],
        "cheap_calls_per_sample": pick["cheap_calls_per_sample"],
        "strong_calls_per_sample": strong.calls,
        "rule": rule_text(pick["signal"], pick["threshold"], pick["cheap_calls_per_sample"]),
        "escalation_rate": inside["escalation_rate"],
        "escalated": inside["escalated"],
        "escalated_rows": [_row(data, int(s)) for s in np.flatnonzero(escalate)],
        "escalated_file_rows": [data.rows.get(int(data.samples[s]), 0) for s in np.flatnonzero(escalate)],
        "n": inside["n"],
        "accuracy_all": inside["accuracy"],
        "accuracy_all_ci95": inside["accuracy_ci95"],
        "cost_per_1k_all_usd": inside["cost_per_1k_usd"],
        "cost_all_usd": _usd(total),
        "latency_p50_ms": inside["latency_p50_ms"],
        "latency_p95_ms": inside["latency_p95_ms"],
        "held_out_accuracy": held["accuracy"],
        "held_out_accuracy_ci95": held["accuracy_ci95"],
        "held_out_escalation_rate": held["escalation_rate"],
        "held_out_cost_per_1k_usd": held["cost_per_1k_usd"],
        "held_out_fold_thresholds": held["fold_thresholds"],
        "strong_accuracy": strong_alone["accuracy"],
        "strong_cost_per_1k_usd": strong_cost,
        "saving_vs_strong": (
            1 - inside["cost_per_1k_usd"] / strong_cost
            if strong_cost and inside["cost_per_1k_usd"] is not None
            else None
        ),
    }
    reason = (
        f"{recommended['rule']}: held-out accuracy {percent(held['accuracy'])} "
        f"(in-sample {percent(inside['accuracy'])}) "
        f"reaches {aim} ({percent(goal)}); {money(inside['cost_per_1k_usd'])} per 1k items vs "
        f"{money(strong_cost)} for the strong cell alone, escalating {percent(inside['escalation_rate'])} of samples"
    )
    return recommended, reason


def rule_text(signal: str, threshold: float, k: int) -> str:
    """The policy in words."""
    calls = f"{k} cheap call{'s' if k > 1 else ''}"
    if signal == "none" or threshold == 0:
        return f"{calls}, never escalate"
    if signal == "agreement":
        need = math.ceil(threshold * k - 1e-9)
        return f"{calls}, escalate unless at least {need} of {k} agree"
    if signal == "parsed":
        return f"{calls}, escalate when no label can be parsed"
    return f"{calls}, escalate when the answer's probability is below {threshold:.4g}"


def calibration_by_signal(data: CascadeData, signals: Sequence[str]) -> list[dict[str, Any]]:
    """Per usable signal, at every cheap call the run holds: how well the confidence predicts a right answer."""
    cheap = side(data, data.cheap, data.cheap.repeats)
    out = []
    for signal in signals:
        conf = cheap.confidence[signal]
        if conf is None:
            continue
        out.append(
            {"signal": signal, "cheap_calls_per_sample": cheap.calls, **calibration.calibration(conf, cheap.correct)}
        )
    return out


def decisions(data: CascadeData, signal: str, threshold: float, k: int, strong_calls: int = 1) -> pd.DataFrame:
    """Per kept sample, what a policy does: its row, gold, cheap answers and confidence, escalated or not,
    the final answer and whether it is right. ``signal`` "none" never escalates."""
    cheap = side(data, data.cheap, k)
    strong = side(data, data.strong, strong_calls)
    conf = np.ones(len(data.samples)) if signal == "none" else cheap.confidence.get(signal)
    if conf is None:
        raise InputError(f"signal {signal!r} is not available for this run")
    escalate = conf < threshold if signal != "none" else np.zeros(len(conf), dtype=bool)

    def label(code: int) -> str:
        return data.labels[code] if code >= 0 else "unparsed"

    final = np.where(escalate, strong.answer, cheap.answer)
    return pd.DataFrame(
        {
            "row": [_row(data, s) for s in range(len(data.samples))],
            "gold": [label(int(g)) for g in data.gold],
            "cheap answers": [" / ".join(label(int(c)) for c in data.cheap.pred[s, :k]) for s in range(len(conf))],
            "confidence": conf,
            "escalated": escalate,
            "strong answer": [label(int(a)) for a in strong.answer],
            "answer": [label(int(a)) for a in final],
            "right": np.where(escalate, strong.correct, cheap.correct),
            "cheap right": cheap.correct,
        }
    )


def escalated_samples(data: CascadeData, signal: str, threshold: float, k: int, strong_calls: int = 1) -> pd.DataFrame:
    """The samples a policy sends to the strong cell (the escalated rows of :func:`decisions`)."""
    table = decisions(data, signal, threshold, k, strong_calls)
    return table[table["escalated"]].drop(columns=["escalated", "answer"]).reset_index(drop=True)


def cascade_report(
    frame: pd.DataFrame,
    labels: Mapping[int, list[str]],
    cheap: str | Mapping[str, Any],
    strong: str | Mapping[str, Any],
    probabilities: pd.Series | None = None,
    run_id: int | None = None,
    rows: Mapping[int, int] | None = None,
    tolerance: float = 0.02,
    target: float | None = None,
    strong_calls: int = 1,
) -> dict[str, Any]:
    """:func:`prepare` then :func:`simulate`: the whole report from a results frame."""
    data = prepare(frame, labels, cheap, strong, probabilities, run_id, rows)
    return simulate(data, tolerance, target, strong_calls)
