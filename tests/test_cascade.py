"""The cascade simulator against hand cases, a brute-force re-count and scikit-learn."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from tests.test_metrics import make_frame
from workbench import calibration
from workbench.cascade import (
    MIN_SAMPLES,
    cascade_report,
    escalated_samples,
    folds,
    majority,
    prepare,
    rule_text,
    simulate,
)
from workbench.cell_choice import parse_cell, resolve_cell
from workbench.confidence import answer_probability
from workbench.errors import InputError
from workbench.stats import wilson_interval

LABELS = ["positive", "negative"]
N = 40


def cheap_votes(s: int) -> list[str | None]:
    """Three cheap answers per sample: unanimous right, 2-of-3, split with an unparsed one, or all wrong."""
    gold = LABELS[s % 2]
    other = LABELS[1 - s % 2]
    kind = s % 5
    if kind in (0, 1):
        return [gold, gold, gold]
    if kind == 2:
        return [gold, other, gold]
    if kind == 3:
        return [other, "unparsed", gold]
    return [other, other, other] if s % 10 == 4 else [other, other, gold]


def strong_answer(s: int) -> str:
    return LABELS[s % 2] if s % 7 else LABELS[1 - s % 2]  # wrong on every 7th sample


def run_frame(cheap_cost: float = 0.0001, strong_cost: float = 0.0025) -> pd.DataFrame:
    rows = []
    for s in range(N):
        gold = LABELS[s % 2]
        for r, answer in enumerate(cheap_votes(s)):
            rows.append(
                {"model": "nano", "temperature": 0.7, "sample_index": s, "repeat": r, "gold": gold,
                 "predicted": answer, "cost_usd": cheap_cost, "latency_ms": 100.0 + r}
            )  # fmt: skip
        rows.append(
            {"model": "mini", "temperature": 0.0, "sample_index": s, "repeat": 0, "gold": gold,
             "predicted": strong_answer(s), "cost_usd": strong_cost, "latency_ms": 400.0}
        )  # fmt: skip
    frame = make_frame(rows)
    frame["item_id"] = range(1, len(frame) + 1)
    return frame


def brute(frame: pd.DataFrame, signal: str, threshold: float, k: int) -> dict:
    """Policy figures by plain loops, independent of the simulator's vectorised code."""
    right = escalated = 0
    cost = Decimal(0)
    for s in range(N):
        gold = LABELS[s % 2]
        votes = [a for a in cheap_votes(s)[:k] if a != "unparsed"]
        counts = Counter(votes)
        answer = max(LABELS, key=lambda label: (counts[label], -LABELS.index(label))) if votes else None
        if signal == "agreement":
            confidence = counts[answer] / k if answer else 0.0
        elif signal == "parsed":
            confidence = 1.0 if answer else 0.0
        else:
            confidence = 1.0
        up = confidence < threshold
        final = strong_answer(s) if up else answer
        right += final == gold
        escalated += up
        cost += Decimal("0.0001") * k + (Decimal("0.0025") if up else 0)
    return {"accuracy": right / N, "escalated": escalated, "cost_per_1k_usd": float(cost * 1000 / N)}


def test_every_policy_matches_a_brute_force_count() -> None:
    frame = run_frame()
    report = cascade_report(frame, {1: LABELS}, "nano", "mini", run_id=7)
    assert report["samples"] == N and report["left_out"] == 0
    checked = 0
    for policy in report["policies"]:
        signal, t, k = policy["signal"], policy["threshold"], policy["cheap_calls_per_sample"]
        expected = brute(frame, signal, t or 0.0, k)
        assert policy["accuracy"] == pytest.approx(expected["accuracy"])
        assert policy["escalated"] == expected["escalated"]
        assert policy["cost_per_1k_usd"] == pytest.approx(expected["cost_per_1k_usd"], rel=0, abs=1e-12)
        low, high = wilson_interval(round(expected["accuracy"] * N), N)
        assert policy["accuracy_ci95"] == [low, high]  # over samples: n = 40 whatever the repeats
        checked += 1
    assert checked >= 8
    signals = {s["signal"]: s for s in report["signals"]}
    assert signals["agreement"]["available"] and signals["parsed"]["available"]
    assert not signals["logprob"]["available"] and "logprobs" in signals["logprob"]["reason"]


def test_hand_case_agreement_two_of_three() -> None:
    report = cascade_report(run_frame(), {1: LABELS}, "nano", "mini")
    unanimous = next(
        p for p in report["policies"] if p["signal"] == "agreement" and p["cheap_calls_per_sample"] == 3
        and p["threshold"] == 1.0
    )  # fmt: skip
    # kinds 2, 3 and the "other, other, gold" half of kind 4 are not unanimous: 8 + 8 + 4 of 40
    assert unanimous["escalated"] == 20
    # cost: 3 cheap calls everywhere + 20 strong calls, per 1,000 samples
    assert unanimous["cost_per_1k_usd"] == pytest.approx((3 * 0.0001 * 40 + 20 * 0.0025) * 1000 / 40)
    # latency: slowest cheap call (102 ms) plus the strong call (400 ms) when escalated
    assert unanimous["latency_p50_ms"] == pytest.approx((102 + 502) / 2)
    ends = report["strong_alone"], report["cheap_alone"]
    assert ends[0]["cost_per_1k_usd"] == pytest.approx(2.5) and ends[0]["escalation_rate"] == 1.0
    assert ends[1]["cost_per_1k_usd"] == pytest.approx(0.1) and ends[1]["escalation_rate"] == 0.0


def test_recommendation_is_cheaper_than_the_strong_cell_and_lists_its_rows() -> None:
    report = cascade_report(run_frame(), {1: LABELS}, "nano", "mini", tolerance=0.05, rows={s: s + 2 for s in range(N)})
    rec = report["recommended"]
    assert rec is not None, report["reason"]
    assert rec["cost_per_1k_all_usd"] < report["strong_alone"]["cost_per_1k_usd"]
    assert rec["held_out_accuracy"] >= report["strong_alone"]["accuracy"] - 0.05
    assert len(rec["escalated_rows"]) == rec["escalated"]
    assert rec["escalated_file_rows"] == [r + 1 for r in rec["escalated_rows"]]  # CSV rows count the header
    # the escalated rows re-score the recommended figures exactly
    rows = set(rec["escalated_rows"])
    k = rec["cheap_calls_per_sample"]
    right = 0
    for s in range(N):
        if s + 1 in rows:
            right += strong_answer(s) == LABELS[s % 2]
        else:
            votes = Counter(a for a in cheap_votes(s)[:k] if a != "unparsed")
            answer = max(LABELS, key=lambda label: (votes[label], -LABELS.index(label))) if votes else None
            right += answer == LABELS[s % 2]
    assert rec["accuracy_all"] == right / N
    assert rec["cost_all_usd"] == pytest.approx(float(Decimal("0.0001") * k * N + Decimal("0.0025") * len(rows)))
    assert rec["rule"] == rule_text(rec["signal"], rec["threshold"], k)
    table = escalated_samples(prepare(run_frame(), {1: LABELS}, "nano", "mini"), rec["signal"], rec["threshold"], k)
    assert table["row"].tolist() == rec["escalated_rows"]


def test_target_no_cascade_reaches_is_said() -> None:
    report = cascade_report(run_frame(), {1: LABELS}, "nano", "mini", target=0.99)
    assert report["recommended"] is None
    assert "99.0%" in report["reason"] and "held-out" in report["reason"]


def test_held_out_uses_thresholds_chosen_without_the_scored_fold() -> None:
    data = prepare(run_frame(), {1: LABELS}, "nano", "mini")
    report = simulate(data, tolerance=0.05)
    fold = folds(N)
    assert sorted(Counter(fold).values()) == [8] * 5
    for chosen in report["selected"]:
        assert len(chosen["held_out"]["fold_thresholds"]) == 5
        assert chosen["held_out"]["n"] == chosen["in_sample"]["n"] == N


def test_majority_ties_go_to_the_first_label_and_unparsed_does_not_vote() -> None:
    pred = np.array([[0, 1], [1, 0], [-1, 1], [-1, -1], [1, 1]])
    answer, votes = majority(pred, 2)
    assert answer.tolist() == [0, 0, 1, -1, 1]
    assert votes.tolist() == [1, 1, 1, 0, 2]


def test_cells_are_named_by_model_or_model_effort_temperature() -> None:
    frame = run_frame()
    assert resolve_cell(frame, "nano")["temperature"] == 0.7
    assert resolve_cell(frame, "mini@0")["model"] == "mini"
    assert resolve_cell(frame, "mini@-@0")["model"] == "mini"
    assert parse_cell("gpt-6-luna@low@default").effort == "low"
    assert parse_cell("gpt-6-luna@low").effort == "low"
    assert parse_cell("3:llama3:8b@0.2").prompt_version_id == 3
    with pytest.raises(InputError, match=r"no cheap cell 'gpt-9'.*nano@-@0.7"):
        resolve_cell(frame, "gpt-9", "cheap")
    two = pd.concat([frame, frame.assign(temperature=0.2, item_id=frame["item_id"] + 1000)])
    with pytest.raises(InputError, match="matches 2 cells"):
        resolve_cell(two, "nano")
    with pytest.raises(InputError, match="not a number"):
        parse_cell("nano@low@warm")


def test_bad_input_is_one_line() -> None:
    frame = run_frame()
    small = frame[frame["sample_index"] < MIN_SAMPLES - 1]
    with pytest.raises(InputError, match="too few samples for cross-validation"):
        cascade_report(small, {1: LABELS}, "nano", "mini")
    with pytest.raises(InputError, match="no gold labels"):
        cascade_report(frame.assign(gold=None), {1: LABELS}, "nano", "mini")
    with pytest.raises(InputError, match="same"):
        cascade_report(frame, {1: LABELS}, "nano", "nano")
    with pytest.raises(InputError, match="no strong cell"):
        cascade_report(frame, {1: LABELS}, "nano", "gpt-4.1")


def test_logprob_signal_from_probabilities() -> None:
    frame = run_frame()
    # probability 0.9 on a right call, 0.55 on a wrong one: the signal separates them
    probs = pd.Series(np.where(frame["predicted"] == frame["gold"], 0.9, 0.55), index=frame["item_id"], dtype=float)
    report = cascade_report(frame, {1: LABELS}, "nano", "mini", probabilities=probs, tolerance=0.05)
    signals = {s["signal"]: s for s in report["signals"]}
    assert signals["logprob"]["available"]
    one_call = [p for p in report["policies"] if p["signal"] == "logprob" and p["cheap_calls_per_sample"] == 1]
    thresholds = [p["threshold"] for p in one_call]
    assert thresholds == [0.7, 0.95]  # short decimals between 0.55 and 0.9, and above 0.9
    cut = one_call[0]
    wrong_first = sum(1 for s in range(N) if cheap_votes(s)[0] != LABELS[s % 2])
    assert cut["escalated"] == wrong_first
    calib = {c["signal"]: c for c in report["calibration"]}
    assert calib["logprob"]["auroc"] is not None and calib["logprob"]["auroc"] > 0.5


def test_answer_probability_from_logprobs() -> None:
    lp = {"content": [{"token": "pos", "logprob": -0.1}, {"token": "itive", "logprob": -0.2}]}
    assert answer_probability(lp) == pytest.approx(math.exp(-0.3))
    assert answer_probability(None) is None
    assert answer_probability('{"content": []}') is None
    assert answer_probability("not json") is None
    assert answer_probability({"content": [{"logprob": "x"}]}) is None


# --------------------------------------------------------------------------- calibration vs scikit-learn


def test_calibration_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(5, 200))
        conf = np.round(rng.random(n), int(rng.integers(1, 4)))  # rounding makes ties and bin edges
        correct = rng.random(n) < conf
        if correct.all() or not correct.any():
            continue
        assert calibration.auroc(conf, correct) == pytest.approx(roc_auc_score(correct, conf))
        prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
        bins = calibration.reliability(conf, correct)
        assert [b["accuracy"] for b in bins] == pytest.approx(list(prob_true))
        assert [b["confidence"] for b in bins] == pytest.approx(list(prob_pred))
        ece = sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins)
        assert calibration.expected_calibration_error(conf, correct) == pytest.approx(ece)


def test_calibration_hand_cases() -> None:
    assert calibration.auroc([0.9, 0.8, 0.2], [True, True, False]) == 1.0
    assert calibration.auroc([0.5, 0.5], [True, False]) == 0.5
    assert calibration.auroc([0.5, 0.7], [True, True]) is None
    # perfectly calibrated: half right at 0.5, all right at 1.0
    assert calibration.expected_calibration_error([0.5, 0.5, 1.0], [True, False, True]) == 0.0
    cover = calibration.accuracy_at_coverage([0.9, 0.1, 0.8, 0.2], [True, False, True, True], (0.5, 1.0))
    assert cover == [{"coverage": 0.5, "n": 2, "accuracy": 1.0}, {"coverage": 1.0, "n": 4, "accuracy": 0.75}]


def test_unknown_prices_are_said_never_zero() -> None:
    frame = run_frame()
    frame.loc[frame["model"] == "mini", "cost_usd"] = math.nan
    report = cascade_report(frame, {1: LABELS}, "nano", "mini", tolerance=0.05)
    assert report["strong_alone"]["cost_per_1k_usd"] is None
    assert all(p["cost_per_1k_usd"] is None for p in report["policies"] if p["escalated"])
    assert report["recommended"] is None and "unknown" in report["reason"]
