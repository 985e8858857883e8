""" "Good enough?": verdicts against a required accuracy, the recommendation, cost at volume, bad input."""

from __future__ import annotations

import pytest

from tests.test_metrics import LABELS, make_frame
from workbench import formatting as fmt
from workbench.errors import InputError
from workbench.metrics import build_report, recommend
from workbench.stats import sample_accuracy_interval
from workbench.target import NO, UNCLEAR, YES, check_target, per_month, verdict


def run_frame(skills: dict[str, tuple[int, float]], samples: int = 100, repeats: int = 1) -> object:
    """One cell per model: the first ``right`` samples answered right, at ``cost`` a call."""
    rows = []
    for model, (right, cost) in skills.items():
        for s in range(samples):
            for r in range(repeats):
                pred = "positive" if s < right else "negative"
                rows.append({"model": model, "temperature": 0, "sample_index": s, "repeat": r})
                rows[-1] |= {"gold": "positive", "predicted": pred, "cost_usd": cost}
    return make_frame(rows)


def by_model(report: dict) -> dict[str, dict]:
    return {c["model"]: c for c in report["cells"]}


def test_verdicts_agree_with_the_interval() -> None:
    frame = run_frame({"big": (97, 0.004), "mid": (91, 0.001), "small": (80, 0.0002)})
    report = build_report(frame, {1: LABELS}, run_id=1, target=0.9)
    cells = by_model(report)
    for c in cells.values():
        low, high = c["accuracy_ci95"]
        expected = YES if low >= 0.9 else NO if high < 0.9 else UNCLEAR
        assert c["meets_target"] == expected
        assert (c["more_samples_to_settle"] is not None) == (expected == UNCLEAR)
    assert [cells[m]["meets_target"] for m in ("big", "mid", "small")] == [YES, UNCLEAR, NO]
    # 91% on 100 samples against 90%: roughly z^2 p(1-p)/gap^2 = 3,146 samples in all
    assert 2500 < cells["mid"]["more_samples_to_settle"] < 3500
    rec = report["recommendation"]
    assert rec["model"] == "big" and rec["meets_target"] == YES and rec["target"] == 0.9
    assert rec["summary"].startswith("big @ 0 is the cheapest cell that meets the required 90.0% accuracy")
    assert "mid @ 0 is cheaper and might meet it too: about" in rec["summary"]


def test_cheapest_cell_meeting_the_target_wins_and_cost_a_month() -> None:
    frame = run_frame({"big": (99, 0.004), "mid": (98, 0.001), "small": (60, 0.0002)})
    report = build_report(frame, {1: LABELS}, run_id=1, target=0.9, volume=1_000_000)
    rec = report["recommendation"]
    assert rec["model"] == "mid" and rec["meets_target"] == YES
    assert rec["cost_per_1k_usd"] == pytest.approx(1.0)
    assert rec["cost_per_month_usd"] == pytest.approx(1000.0)
    assert by_model(report)["small"]["cost_per_month_usd"] == pytest.approx(200.0)
    assert "at $1.00 per 1,000 items ($1,000.00 a month at 1,000,000 items)." in rec["summary"]
    assert report["volume_per_month"] == 1_000_000


def test_none_meets_the_target_says_by_how_much() -> None:
    frame = run_frame({"big": (80, 0.004), "small": (60, 0.0002)})
    report = build_report(frame, {1: LABELS}, run_id=1, target=0.95)
    rec = report["recommendation"]
    assert rec["model"] == "big" and rec["meets_target"] == NO
    assert rec["shortfall"] == pytest.approx(0.15)
    assert rec["summary"].startswith(
        "No cell meets the required 95.0% accuracy: the most accurate, big @ 0, reaches 80.0%"
    )
    assert "15.0 pts short" in rec["summary"]
    # an unclear best: said as unclear, with what would settle it
    frame = run_frame({"big": (93, 0.004), "small": (60, 0.0002)})
    rec = build_report(frame, {1: LABELS}, run_id=1, target=0.95)["recommendation"]
    assert rec["meets_target"] == UNCLEAR and "big @ 0 is unclear: about" in rec["summary"]


def test_repeats_do_not_settle_a_verdict() -> None:
    """Three identical repeats are one sample's evidence: the verdict is the one-repeat verdict."""
    once = build_report(run_frame({"m": (94, 0.001)}), {1: LABELS}, run_id=1, target=0.9)
    thrice = build_report(run_frame({"m": (94, 0.001)}, repeats=3), {1: LABELS}, run_id=1, target=0.9)
    assert once["cells"][0]["meets_target"] == thrice["cells"][0]["meets_target"] == UNCLEAR
    assert thrice["cells"][0]["accuracy_ci95"] == pytest.approx(once["cells"][0]["accuracy_ci95"])


def test_a_cell_without_parsed_answers_still_reports_and_gets_a_verdict() -> None:
    rows = [
        {"model": "broken", "temperature": 0, "sample_index": s, "gold": "positive", "predicted": "unparsed"}
        for s in range(20)
    ] + [{"model": "broken", "temperature": 0, "sample_index": 20, "gold": "positive", "error": "HTTP 500"}]
    report = build_report(make_frame(rows), {1: LABELS}, run_id=1, target=0.5)
    cell = report["cells"][0]
    assert (cell["n"], cell["errors"], cell["accuracy"], cell["unparsed"]) == (20, 1, 0.0, 20)
    assert cell["cost_usd"] == pytest.approx(0.02) and cell["accuracy_ci95"][0] == 0.0
    assert cell["accuracy_ci95"] == pytest.approx(list(sample_accuracy_interval([0] * 20, [1] * 20)))
    assert cell["meets_target"] == NO
    assert cell["confusion"]["columns"] == [*LABELS, "unparsed"]


@pytest.mark.parametrize("bad", [1.5, -0.1, 90, float("nan"), "0.9", True])
def test_target_outside_0_1_is_a_one_line_error(bad: object) -> None:
    with pytest.raises(InputError) as err:
        check_target(bad)
    assert "\n" not in str(err.value) and "between 0 and 1" in str(err.value)
    if bad == 90:
        assert "did you mean 0.9?" in str(err.value)
    with pytest.raises(InputError):
        build_report(run_frame({"m": (9, 0.001)}, samples=10), {1: LABELS}, run_id=1, target=bad)  # type: ignore[arg-type]


def test_target_on_a_run_without_gold_labels_is_an_error() -> None:
    rows = [
        {"model": "m", "temperature": 0, "sample_index": s, "gold": "??", "predicted": "positive"} for s in range(5)
    ]
    with pytest.raises(InputError, match="run 4 has no gold labels"):
        build_report(make_frame(rows), {1: LABELS}, run_id=4, target=0.9)
    assert build_report(make_frame(rows), {1: LABELS}, run_id=4)["target"] is None  # without a target: fine


def test_verdict_and_cost_a_month_directly() -> None:
    assert verdict({"accuracy": None, "accuracy_ci95": [None, None]}, 0.9) == (UNCLEAR, None)
    assert verdict({"accuracy": 0.95, "accuracy_ci95": [0.9, 0.98], "samples": 50}, 0.9) == (YES, None)
    assert per_month(0.5, 20_000) == pytest.approx(10.0) and per_month(None, 1000) is None


def test_recommendation_without_target_is_one_sentence() -> None:
    """The issue's broken sentence: "...($0.1346 per 1k items); is the best." / "gpt-4.1-mini @ 0 — is the best"."""
    cells = [
        {"model": "mini", "temperature": 0.0, "prompt_version_id": 1, "prompt_name": "p", "accuracy": 0.97}
        | {"cost_per_1k_usd": 0.1346, "n": 100, "accuracy_ci95": [0.915, 0.99], "samples": 100, "repeats": 1}
    ]
    rec = recommend(cells, [])
    assert rec["summary"] == (
        "mini @ 0 is the most accurate cell (97.0%, 95% interval 91.5–99.0%) and no cell within 2 points of it "
        "is cheaper: $0.135 per 1,000 items."
    )
    assert "; is the best" not in rec["summary"]
    assert fmt.money(cells[0]["cost_per_1k_usd"]) in rec["summary"]
