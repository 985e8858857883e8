"""Metrics against independent computations: scikit-learn for classification scores, scipy for tests/intervals."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from tests.conftest import SWEEP_CELL_CONTRACT
from workbench.errors import InputError
from workbench.metrics import (
    build_report,
    cell_summaries,
    disagreements,
    hard_set,
    pair_tests,
    pareto_frontier,
    per_sample,
    recommend,
    samples_for,
)
from workbench.stats import Z95, bootstrap_mean_ci, exact_sums, mcnemar_exact, sample_accuracy_interval, wilson_interval

LABELS = ["positive", "negative", "neutral"]
EXTRA_KEYS = [
    "prompt_version_id",
    "prompt_name",
    "prompt_label",
    "correct",
    "accuracy_ci95",
    "samples",
    "repeats",
    "effective_n",
    "cost_per_1k_usd",
    "cost_per_correct_usd",
    "ttft_p50_ms",
    "per_class",
    "confusion",
    "consistency",
    "flips",
    "reused",
]


def make_frame(rows: list[dict]) -> pd.DataFrame:
    """A results frame as storage builds it; each row needs model, temperature, sample_index, repeat, gold, predicted.

    Answered rows default to 10/0/1 tokens, $0.001, 100 ms; rows without an answer get NA usage.
    """
    full = []
    for i, r in enumerate(rows):
        answered = r.get("predicted") is not None
        full.append(
            {
                "prompt_version_id": r.get("prompt_version_id", 1),
                "prompt_name": r.get("prompt_name", f"prompt{r.get('prompt_version_id', 1)}"),
                "model": r["model"],
                "temperature": float(r["temperature"]),
                "sample_index": r["sample_index"],
                "repeat": r.get("repeat", 0),
                "gold": r["gold"],
                "output": r.get("output", r.get("predicted")),
                "predicted": r.get("predicted"),
                "error": r.get("error"),
                "prompt_tokens": r.get("prompt_tokens", 10 + i % 3) if answered else pd.NA,
                "cached_tokens": r.get("cached_tokens", 0) if answered else pd.NA,
                "completion_tokens": r.get("completion_tokens", 1) if answered else pd.NA,
                "cost_usd": r.get("cost_usd", 0.001) if answered else math.nan,
                "latency_ms": r.get("latency_ms", 100.0 + i) if answered else math.nan,
                "ttft_ms": r.get("ttft_ms", math.nan),
                "reused": r.get("reused", False),
                "variables": json.dumps({"text": f"sample {r['sample_index']}"}),
            }
        )
    frame = pd.DataFrame(full)
    for col in ("prompt_tokens", "cached_tokens", "completion_tokens"):
        frame[col] = frame[col].astype("Int64")
    return frame


def answers(frame: pd.DataFrame, model: str, temperature: float, pv: int = 1) -> pd.DataFrame:
    """The answered rows of one cell, computed plainly for the truth side."""
    m = (
        (frame["model"] == model)
        & (frame["temperature"] == temperature)
        & (frame["prompt_version_id"] == pv)
        & frame["predicted"].notna()
    )
    return frame[m]


def check_against_sklearn(cell: dict, rows: pd.DataFrame, labels: list[str]) -> None:
    """Every classification figure of ``cell`` equals scikit-learn's on the same answers."""
    y_true, y_pred = rows["gold"].astype(object).tolist(), rows["predicted"].astype(object).tolist()
    n = len(y_true)
    assert cell["n"] == n
    assert cell["unparsed"] == sum(p not in labels for p in y_pred)
    if n == 0:
        assert cell["accuracy"] is None and cell["macro_f1"] is None
        assert cell["accuracy_ci95"] == [None, None]
        return
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True) if p in labels)
    assert cell["correct"] == correct
    assert cell["accuracy"] == pytest.approx(correct / n, abs=1e-12)
    macro = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert cell["macro_f1"] == pytest.approx(macro, abs=1e-12)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    assert list(cell["per_class"]) == labels
    for i, label in enumerate(labels):
        got = cell["per_class"][label]
        assert got["precision"] == pytest.approx(p[i], abs=1e-12)
        assert got["recall"] == pytest.approx(r[i], abs=1e-12)
        assert got["f1"] == pytest.approx(f[i], abs=1e-12)
        assert got["support"] == s[i]
    cm = confusion_matrix(
        [t if t in labels else "__other__" for t in y_true],
        [v if v in labels else "unparsed" for v in y_pred],
        labels=[*labels, "unparsed"],
    )
    assert cell["confusion"]["labels"] == labels
    assert cell["confusion"]["columns"] == [*labels, "unparsed"]
    assert cell["confusion"]["matrix"] == cm[: len(labels)].tolist()
    per = rows.assign(right=rows["gold"] == rows["predicted"]).groupby("sample_index")["right"].agg(["sum", "size"])
    assert cell["samples"] == len(per) and cell["repeats"] == per["size"].max()
    if per["size"].max() == 1:  # one answer per sample: the classic Wilson interval over answers
        low, high = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert cell["accuracy_ci95"] == pytest.approx([low, high], abs=1e-12)
    else:  # repeats: the sample is the unit
        expected = sample_accuracy_interval(per["sum"].to_numpy(), per["size"].to_numpy())
        assert cell["accuracy_ci95"] == pytest.approx(list(expected), abs=1e-12)
        wide = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert cell["accuracy_ci95"][1] - cell["accuracy_ci95"][0] >= wide.high - wide.low - 1e-12


# --- a hand-made run -----------------------------------------------------------------------------


@pytest.fixture
def hand() -> pd.DataFrame:
    """Two models; nano never sees or predicts "neutral" (an empty class), has an unparsed answer,
    an error and a pending item; mini is all unparsed."""
    rows = []
    gold = ["positive", "negative", "positive", "negative", "positive"]
    nano = ["positive", "positive", "unparsed", "negative", None]
    for i, (g, p) in enumerate(zip(gold, nano, strict=True)):
        rows.append({"model": "nano", "temperature": 0.0, "sample_index": i, "gold": g, "predicted": p})
    rows[4]["error"] = "HTTP 500"
    rows.append({"model": "nano", "temperature": 0.0, "sample_index": 5, "gold": "neutral", "predicted": None})
    for i, g in enumerate(gold):
        rows.append({"model": "mini", "temperature": 0.0, "sample_index": i, "gold": g, "predicted": "unparsed"})
    return make_frame(rows)


def test_hand_case_matches_sklearn(hand: pd.DataFrame) -> None:
    cells = cell_summaries(hand, {1: LABELS})
    assert [(c["model"], c["temperature"]) for c in cells] == [("mini", 0.0), ("nano", 0.0)]
    mini, nano = cells
    check_against_sklearn(nano, answers(hand, "nano", 0.0), LABELS)
    check_against_sklearn(mini, answers(hand, "mini", 0.0), LABELS)
    assert nano["n"] == 4 and nano["correct"] == 2 and nano["accuracy"] == 0.5
    assert nano["unparsed"] == 1 and nano["errors"] == 1  # the pending item is neither
    assert nano["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # positive: tp 1, predicted 2, support 2 -> F1 0.5; negative: tp 1, predicted 1, support 2 -> 2/3
    assert nano["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert nano["confusion"]["matrix"] == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]]
    # the all-unparsed cell: every answer wrong, every column but the last empty
    assert mini["accuracy"] == 0.0 and mini["macro_f1"] == 0.0 and mini["unparsed"] == 5
    assert mini["confusion"]["matrix"] == [[0, 0, 0, 3], [0, 0, 0, 2], [0, 0, 0, 0]]
    assert mini["accuracy_ci95"][0] == 0.0
    assert mini["cost_per_correct_usd"] is None


def test_contract_keys_and_order(hand: pd.DataFrame) -> None:
    for cell in cell_summaries(hand, {1: LABELS}):
        assert list(cell) == SWEEP_CELL_CONTRACT + EXTRA_KEYS


def test_usage_cost_and_latency_sum_answers_only(hand: pd.DataFrame) -> None:
    nano = cell_summaries(hand, {1: LABELS})[1]
    rows = answers(hand, "nano", 0.0)
    assert nano["prompt_tokens"] == int(rows["prompt_tokens"].sum())
    assert nano["completion_tokens"] == 4 and nano["cached_tokens"] == 0
    assert nano["cost_usd"] == pytest.approx(0.004)
    assert nano["cost_per_1k_usd"] == pytest.approx(1.0)
    assert nano["cost_per_correct_usd"] == pytest.approx(0.002)
    lat = rows["latency_ms"].to_numpy()
    assert nano["latency_p50_ms"] == pytest.approx(np.percentile(lat, 50))
    assert nano["latency_p95_ms"] == pytest.approx(np.percentile(lat, 95))
    assert nano["ttft_p50_ms"] is None
    assert all(isinstance(nano[k], int) for k in ("prompt_tokens", "cached_tokens", "completion_tokens"))


def test_reused_and_time_to_first_token() -> None:
    rows = [
        {"model": "m", "temperature": 0, "sample_index": i, "gold": "positive", "predicted": "positive"}
        | {"reused": i < 2, "ttft_ms": float(t)}
        for i, t in enumerate([30, 10, 20, 50])
    ]
    rows.append({"model": "m", "temperature": 0, "sample_index": 9, "gold": "positive", "predicted": None})
    (cell,) = cell_summaries(make_frame(rows), {1: LABELS})
    assert cell["reused"] == 2
    assert cell["ttft_p50_ms"] == pytest.approx(np.percentile([30, 10, 20, 50], 50))


def test_cost_is_summed_exactly() -> None:
    rows = [
        {"model": "m", "temperature": 0, "sample_index": i, "gold": "positive", "predicted": "positive", "cost_usd": c}
        for i, c in enumerate([0.1, 0.2])
    ]
    assert 0.1 + 0.2 != 0.3
    (cell,) = cell_summaries(make_frame(rows), {1: LABELS})
    assert cell["cost_usd"] == 0.3
    groups = pd.Series([0, 0, 1, 1])
    assert exact_sums(pd.Series([0.1, 0.2, math.nan, 1e-7]), groups) == {0: Decimal("0.3"), 1: Decimal("1E-7")}


def test_unknown_cost_is_none_not_zero() -> None:
    rows = [
        {"model": "m", "temperature": 0, "sample_index": 0, "gold": "positive", "predicted": "positive"},
        {"model": "m", "temperature": 0, "sample_index": 1, "gold": "positive", "predicted": "negative"},
        {"model": "k", "temperature": 0, "sample_index": 0, "gold": "positive", "predicted": None, "error": "boom"},
        {"model": "k", "temperature": 0, "sample_index": 1, "gold": "positive", "predicted": "positive"},
    ]
    rows[1]["cost_usd"] = math.nan
    k, m = cell_summaries(make_frame(rows), {1: LABELS})
    assert m["cost_usd"] is None and m["cost_per_1k_usd"] is None and m["cost_per_correct_usd"] is None
    assert k["cost_usd"] == pytest.approx(0.001)  # the error row's missing cost is not an unknown price
    assert k["errors"] == 1


def test_cell_without_answers() -> None:
    rows = [{"model": "m", "temperature": 0.7, "sample_index": 0, "gold": "positive", "predicted": None}]
    (cell,) = cell_summaries(make_frame(rows), {1: LABELS})
    assert cell["n"] == 0 and cell["errors"] == 0  # pending, not an error
    for key in ("accuracy", "macro_f1", "latency_p50_ms", "latency_p95_ms", "cost_per_1k_usd", "consistency"):
        assert cell[key] is None
    assert cell["accuracy_ci95"] == [None, None]
    assert cell["cost_usd"] == 0.0
    assert cell_summaries(make_frame(rows).iloc[:0], {1: LABELS}) == []


def test_consistency_and_flips() -> None:
    rows = []
    answers_by_sample = {
        0: ["positive", "positive", "positive"],  # stable
        1: ["positive", "negative", "positive"],  # flips
        2: ["unparsed", "unparsed", "unparsed"],  # stable (always the same answer)
        3: ["negative", None, None],  # one answered repeat: not counted
        4: ["neutral", None, "negative"],  # two answered repeats that disagree
    }
    for s, preds in answers_by_sample.items():
        for r, p in enumerate(preds):
            rows.append(
                {"model": "m", "temperature": 1, "sample_index": s, "repeat": r, "gold": "positive", "predicted": p}
            )
    (cell,) = cell_summaries(make_frame(rows), {1: LABELS})
    assert cell["consistency"] == pytest.approx(2 / 4)
    assert cell["flips"] == [1, 4]
    single = [dict(r, repeat=0, sample_index=i) for i, r in enumerate(rows) if r["repeat"] == 0]
    (one,) = cell_summaries(make_frame(single), {1: LABELS})
    assert one["consistency"] is None and one["flips"] == []


def test_gold_outside_the_labels_counts_as_wrong() -> None:
    rows = [
        {"model": "m", "temperature": 0, "sample_index": 0, "gold": "mixed", "predicted": "positive"},
        {"model": "m", "temperature": 0, "sample_index": 1, "gold": "positive", "predicted": "positive"},
    ]
    frame = make_frame(rows)
    (cell,) = cell_summaries(frame, {1: LABELS})
    check_against_sklearn(cell, answers(frame, "m", 0.0), LABELS)
    assert cell["accuracy"] == 0.5


def test_bad_input_is_a_one_line_error(hand: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="missing column"):
        cell_summaries(hand.drop(columns=["gold"]), {1: LABELS})
    with pytest.raises(InputError, match="prompt version 1"):
        cell_summaries(hand, {2: LABELS})
    with pytest.raises(InputError, match="tolerance"):
        recommend([], [], tolerance=-0.1)


# --- intervals and tests -------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 10), (10, 10), (7, 10), (1, 3), (50, 100), (999, 1000)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    low, high = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-12)
    # and the textbook form, written out independently
    p, z = k / n, Z95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(k, n) == pytest.approx((max(0, centre - half), min(1, centre + half)), abs=1e-12)
    assert wilson_interval(0, 0) == (None, None)


@pytest.mark.parametrize(
    ("b", "c"),
    [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (10, 1), (25, 40), (500, 499), (480, 560), (600, 700), (2900, 3100)],
)
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_bootstrap_equals_index_resampling_in_distribution() -> None:
    # per-sample differences of two cells with 3 repeats: values in {-1, -2/3, ..., 1}
    rng = np.random.default_rng(5)
    d = (rng.integers(0, 4, 200) - rng.integers(0, 4, 200)) / 3
    low, high = bootstrap_mean_ci([d], np.random.default_rng(1), n_boot=20000)
    # the naive bootstrap over samples: resample sample indices
    means = d[np.random.default_rng(2).integers(0, len(d), size=(20000, len(d)))].mean(axis=1)
    naive = np.percentile(means, [2.5, 97.5])
    assert (low[0], high[0]) == pytest.approx(tuple(naive), abs=0.01)
    assert low[0] < d.mean() < high[0]


def test_bootstrap_many_pairs_at_once() -> None:
    values = [np.zeros(50), -np.ones(3), np.array([1.0] * 5 + [-1.0] * 5), np.ones(40), np.array([])]
    low, high = bootstrap_mean_ci(values, np.random.default_rng(0), n_boot=4000)
    assert (low[0], high[0]) == (0.0, 0.0)  # no discordant sample: no spread
    assert (low[1], high[1]) == (-1.0, -1.0)  # every sample discordant one way
    assert -1 <= low[2] < 0 < high[2] <= 1
    assert (low[3], high[3]) == (1.0, 1.0)
    assert np.isnan(low[4]) and np.isnan(high[4])
    again = bootstrap_mean_ci(values, np.random.default_rng(0), n_boot=4000)
    np.testing.assert_array_equal(again[0], low)


def paired_frame() -> pd.DataFrame:
    """Three cells over 6 samples x 2 repeats, with missing answers on both sides."""
    rng = np.random.default_rng(7)
    rows = []
    for model, t, skill in [("nano", 0.0, 0.6), ("nano", 1.0, 0.5), ("mini", 0.0, 0.9)]:
        for s in range(6):
            for r in range(2):
                gold = LABELS[s % 3]
                right = rng.random() < skill
                pred = gold if right else ("unparsed" if rng.random() < 0.3 else LABELS[(s + 1) % 3])
                if (s + r + len(model)) % 7 == 0:
                    pred = None
                rows.append(
                    {"model": model, "temperature": t, "sample_index": s, "repeat": r, "gold": gold, "predicted": pred}
                )
    return make_frame(rows)


def test_pair_tests_count_samples_not_calls() -> None:
    frame = paired_frame()
    pairs = pair_tests(frame, {1: LABELS}, seed=3)
    cells = cell_summaries(frame, {1: LABELS})
    assert len(pairs) == 3
    order = [(c["model"], c["temperature"]) for c in cells]
    for pair in pairs:
        a, b = (pair["a"]["model"], pair["a"]["temperature"]), (pair["b"]["model"], pair["b"]["temperature"])
        assert order.index(a) < order.index(b)

        def per_sample_share(rows: pd.DataFrame) -> pd.Series:
            return (rows["predicted"] == rows["gold"]).groupby(rows["sample_index"]).mean()

        merged = pd.concat([per_sample_share(answers(frame, *a)), per_sample_share(answers(frame, *b))], axis=1)
        merged = merged.dropna()
        sa, sb = merged.iloc[:, 0].to_numpy(), merged.iloc[:, 1].to_numpy()
        assert pair["n"] == len(merged) <= 6  # samples, never sample x repeat
        assert pair["a_correct"] == (sa > 0.5).sum() and pair["b_correct"] == (sb > 0.5).sum()
        assert pair["a_only_correct"] == ((sa > 0.5) & (sb < 0.5)).sum()
        assert pair["b_only_correct"] == ((sa < 0.5) & (sb > 0.5)).sum()
        disc = pair["a_only_correct"] + pair["b_only_correct"]
        expected = binomtest(pair["a_only_correct"], disc).pvalue if disc else 1.0
        assert pair["mcnemar_p"] == pytest.approx(expected, rel=1e-12)
        assert pair["diff"] == pytest.approx((sa - sb).mean())
        low, high = pair["diff_ci95"]
        assert low <= pair["diff"] <= high
    assert pair_tests(frame, {1: LABELS}, seed=3) == pairs  # seeded: reproducible


def test_identical_repeats_do_not_change_pairs_or_intervals() -> None:
    """Two identical repeats are the same evidence as one: same interval, same test (the issue's 97/100 case)."""
    rows = []
    for model, right in [("mini", 97), ("nano", 88)]:
        for s in range(100):
            for r in range(2):
                gold = "positive"
                pred = gold if s < right else "negative"
                rows.append({"model": model, "temperature": 0, "sample_index": s, "repeat": r, "gold": gold})
                rows[-1]["predicted"] = pred
    twice = make_frame(rows)
    once = twice[twice["repeat"] == 0]
    two, one = build_report(twice, {1: LABELS}, run_id=1), build_report(once, {1: LABELS}, run_id=1)
    mini2 = next(c for c in two["cells"] if c["model"] == "mini")
    mini1 = next(c for c in one["cells"] if c["model"] == "mini")
    assert (mini2["n"], mini2["samples"], mini2["repeats"]) == (200, 100, 2)
    assert mini2["accuracy_ci95"] == pytest.approx(mini1["accuracy_ci95"], abs=1e-12)
    assert mini2["accuracy_ci95"] == pytest.approx([0.915, 0.990], abs=5e-4)
    p2, p1 = two["pairs"][0], one["pairs"][0]
    assert p2["n"] == p1["n"] == 100
    assert p2["mcnemar_p"] == p1["mcnemar_p"] and p2["diff"] == pytest.approx(p1["diff"])


def test_pairs_only_between_prompts_with_the_same_labels() -> None:
    rows = []
    for pv, labels in [(1, LABELS), (2, LABELS[::-1]), (3, ["spam", "ham"])]:
        for s in range(4):
            rows.append(
                {"prompt_version_id": pv, "model": "m", "temperature": 0, "sample_index": s}
                | {"gold": labels[0], "predicted": labels[s % 2]}
            )
    frame = make_frame(rows)
    pairs = pair_tests(frame, {1: LABELS, 2: LABELS[::-1], 3: ["spam", "ham"]})
    assert [(p["a"]["prompt_version_id"], p["b"]["prompt_version_id"]) for p in pairs] == [(1, 2)]


# --- frontier and recommendation -----------------------------------------------------------------


def cell(model: str, accuracy: float | None, cost: float | None, t: float = 0.0, n: int = 100, pv: int = 1) -> dict:
    return {
        "model": model,
        "temperature": t,
        "prompt_version_id": pv,
        "prompt_name": "p",
        "accuracy": accuracy,
        "cost_per_1k_usd": cost,
        "n": n,
    }


def test_pareto_frontier() -> None:
    cells = [
        cell("cheap", 0.80, 0.10),
        cell("mid", 0.85, 0.20),
        cell("dominated", 0.80, 0.30),  # costs more than "cheap" for the same accuracy
        cell("best", 0.90, 1.00),
        cell("twin", 0.90, 1.00),  # a tie: neither dominates the other
        cell("unknown", 0.99, None),  # unknown cost: never on the frontier
        cell("empty", None, None),
    ]
    got = [c["model"] for c in pareto_frontier(cells)]
    assert got == ["cheap", "mid", "best", "twin"]
    assert pareto_frontier([]) == []


def test_recommend_cheapest_within_tolerance_with_test_against_best() -> None:
    cells = [cell("mini", 0.90, 1.0), cell("nano", 0.89, 0.2), cell("tiny", 0.80, 0.01), cell("x", 0.95, None)]
    pairs = [
        {"a": cells[0], "b": cells[1], "mcnemar_p": 0.41, "diff": 0.01},
        {"a": cells[1], "b": cells[3], "mcnemar_p": 0.003, "diff": -0.06},
    ]
    rec = recommend(cells, pairs, tolerance=0.02)
    # best is "x" (95%, unknown cost); nothing priced is within 2 points of it -> x itself
    assert rec["model"] == "x" and rec["verdict"] == "is the best" and rec["mcnemar_p"] is None
    rec = recommend(cells[:3], pairs, tolerance=0.02)
    assert rec["model"] == "nano" and rec["best"]["model"] == "mini"
    assert rec["mcnemar_p"] == 0.41
    assert rec["verdict"] == "no significant difference from the best (p=0.41)"
    assert "nano" in rec["reason"] and "mini" in rec["reason"]
    rec = recommend([cells[1], cells[3]], pairs, tolerance=0.1)
    assert rec["model"] == "nano" and rec["verdict"] == "significantly worse than the best (p=0.003)"
    rec = recommend(cells[:3], pairs, tolerance=0.2)
    assert rec["model"] == "tiny" and rec["mcnemar_p"] is None  # no pair with the best
    assert recommend([cell("e", None, None)], []) is None


def test_recommend_ties_prefer_known_then_lower_cost() -> None:
    cells = [cell("a", 0.9, None), cell("b", 0.9, 0.5), cell("c", 0.9, 0.4)]
    rec = recommend(cells, [], tolerance=0.0)
    assert rec["model"] == "c" and rec["best"]["model"] == "c" and rec["verdict"] == "is the best"
    rec = recommend([cell("a", 0.9, None), cell("b", 0.8, None)], [], tolerance=0.5)
    assert rec["model"] == "a"  # all unknown: by accuracy


def test_build_report_is_strict_json(hand: pd.DataFrame) -> None:
    report = build_report(hand, {1: LABELS}, run_id=7, tolerance=0.05)
    keys = {"run_id", "cells", "pairs", "pareto", "recommendation", "tolerance", "target", "volume_per_month"}
    assert set(report) == keys
    assert report["run_id"] == 7 and report["tolerance"] == 0.05 and report["target"] is None
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    verdicts = {"meets_target": None, "more_samples_to_settle": None, "cost_per_month_usd": None}
    assert report["cells"] == [c | verdicts for c in cell_summaries(hand, {1: LABELS})]
    assert report["recommendation"]["model"] == "nano"
    assert report["pareto"] == [
        {
            "model": "nano",
            "reasoning_effort": None,
            "temperature": 0.0,
            "prompt_version_id": 1,
            "prompt_name": "prompt1",
            "prompt_label": "prompt1",
        }
    ]
    empty = build_report(hand.iloc[:0], {1: LABELS}, run_id=1)
    assert empty["cells"] == [] and empty["pairs"] == [] and empty["recommendation"] is None


# --- per-sample views ----------------------------------------------------------------------------


def test_per_sample(hand: pd.DataFrame) -> None:
    table = per_sample(hand)
    assert len(table) == len(hand)
    assert list(table["model"].iloc[:5]) == ["mini"] * 5
    nano = table[table["model"] == "nano"].set_index("sample_index")
    assert nano.loc[0, "correct"] == True  # noqa: E712 (nullable boolean)
    assert nano.loc[2, "correct"] == False  # noqa: E712 (unparsed is wrong)
    assert pd.isna(nano.loc[4, "correct"]) and nano.loc[4, "error"] == "HTTP 500"
    assert {"gold", "predicted", "output", "cost_usd", "latency_ms", "repeat", "temperature"} <= set(table.columns)


def test_disagreements_and_hard_set() -> None:
    rows = []
    plan = {
        ("nano", 0.0): {0: ["positive", "positive"], 1: ["negative", "positive"], 2: ["neutral", "neutral"]},
        ("mini", 0.0): {0: ["positive", "positive"], 1: ["negative", "negative"], 2: ["negative", None]},
    }
    for (model, t), samples in plan.items():
        for s, preds in samples.items():
            for r, p in enumerate(preds):
                rows.append({"model": model, "temperature": t, "sample_index": s, "repeat": r, "gold": "negative"})
                rows[-1]["predicted"] = p
    frame = make_frame(rows)
    assert hard_set(frame) == [1, 2]
    table = disagreements(frame)
    assert list(table.columns) == ["sample_index", "gold", "variables", "mini @ 0", "nano @ 0"]
    assert table["sample_index"].tolist() == [1, 2]
    assert table["nano @ 0"].tolist() == ["negative / positive", "neutral / neutral"]
    assert table["mini @ 0"].tolist() == ["negative / negative", "negative"]
    assert json.loads(table["variables"].iloc[0]) == {"text": "sample 1"}
    none = disagreements(frame[frame["sample_index"] == 0])
    assert none.empty and "nano @ 0" in none.columns


def test_samples_for_a_confusion_square(hand: pd.DataFrame) -> None:
    nano = cell_summaries(hand, {1: LABELS})[1]
    square = samples_for(hand, nano, gold="negative", predicted="positive")
    assert square["sample_index"].tolist() == [1]
    assert samples_for(hand, nano, gold="positive", predicted="unparsed")["sample_index"].tolist() == [2]
    assert len(samples_for(hand, nano)) == nano["n"]
    with pytest.raises(InputError, match="temperature"):
        samples_for(hand, {"model": "nano"})


# --- random runs against scikit-learn ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_random_runs_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    label_sets = {1: [f"l{i}" for i in range(int(rng.integers(2, 6)))], 2: ["spam", "ham"]}
    rows = []
    cells = [(pv, m, t) for pv in (1, 2) for m in ("a", "b") for t in (0.0, 0.7) if rng.random() < 0.8]
    samples, repeats = int(rng.integers(1, 30)), int(rng.integers(1, 4))
    for pv, model, t in cells:
        labels = label_sets[pv]
        gold = rng.choice(labels, size=samples)
        for s in range(samples):
            for r in range(repeats):
                roll = rng.random()
                if roll < 0.1:
                    pred, err = None, "boom" if rng.random() < 0.5 else None
                elif roll < 0.2:
                    pred, err = "unparsed", None
                else:
                    pred, err = (gold[s] if rng.random() < 0.6 else str(rng.choice(labels))), None
                rows.append(
                    {"prompt_version_id": pv, "model": model, "temperature": t, "sample_index": s, "repeat": r}
                    | {"gold": str(gold[s]), "predicted": pred, "error": err, "cost_usd": float(rng.random() / 1000)}
                )
    if not rows:
        return
    frame = make_frame(rows).sample(frac=1.0, random_state=seed)  # order must not matter
    summaries = cell_summaries(frame, label_sets)
    assert [(c["prompt_version_id"], c["model"], c["temperature"]) for c in summaries] == sorted(cells)
    for c in summaries:
        pv = c["prompt_version_id"]
        rows_c = answers(frame, c["model"], c["temperature"], pv)
        check_against_sklearn(c, rows_c, label_sets[pv])
        all_c = frame[(frame["model"] == c["model"]) & (frame["temperature"] == c["temperature"])]
        all_c = all_c[all_c["prompt_version_id"] == pv]
        assert c["errors"] == int((all_c["predicted"].isna() & all_c["error"].notna()).sum())
        expected_cost = sum(Decimal(repr(x)) for x in rows_c["cost_usd"])
        assert c["cost_usd"] == float(expected_cost)
        if repeats == 1:
            assert c["consistency"] is None
        else:
            groups = rows_c.groupby("sample_index")["predicted"]
            multi = groups.size() >= 2
            same = groups.nunique() == 1
            expected = float(same[multi].mean()) if multi.any() else None
            assert c["consistency"] == (pytest.approx(expected) if expected is not None else None)
            assert c["flips"] == sorted(int(s) for s in same[multi & ~same].index)
    report = build_report(frame, label_sets, run_id=seed)
    json.dumps(report, allow_nan=False)
    for pair in report["pairs"]:
        assert label_sets[pair["a"]["prompt_version_id"]] == label_sets[pair["b"]["prompt_version_id"]]


def test_confusion_always_has_the_labels_then_unparsed() -> None:
    """Issue 15: the same shape for every cell, whether or not it has an unparsed answer."""
    rows = [
        {"model": "clean", "temperature": 0, "sample_index": s, "gold": "positive", "predicted": "positive"}
        for s in range(3)
    ]
    rows += [
        {"model": "messy", "temperature": 0, "sample_index": s, "gold": "negative", "predicted": "unparsed"}
        for s in range(3)
    ]
    report = build_report(make_frame(rows), {1: LABELS}, run_id=1)
    for cell in report["cells"]:
        assert cell["confusion"]["columns"] == [*LABELS, "unparsed"]
        assert [len(row) for row in cell["confusion"]["matrix"]] == [len(LABELS) + 1] * len(LABELS)


def test_many_cells_use_shared_resamples_with_the_same_results() -> None:
    """20 cells over 30 samples x 3 repeats take the shared-resample path; its intervals hold the difference."""
    rng = np.random.default_rng(9)
    rows = []
    for m in range(20):
        for s in range(30):
            for r in range(3):
                right = rng.random() < 0.5 + m / 50
                rows.append({"model": f"m{m:02d}", "temperature": 0, "sample_index": s, "repeat": r})
                rows[-1] |= {"gold": "positive", "predicted": "positive" if right else "negative"}
    frame = make_frame(rows)
    pairs = pair_tests(frame, {1: LABELS}, seed=1)
    assert len(pairs) == 190
    for pair in pairs:
        low, high = pair["diff_ci95"]
        assert -1 <= low <= pair["diff"] <= high <= 1
    assert pair_tests(frame, {1: LABELS}, seed=1) == pairs
