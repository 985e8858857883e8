"""Cascade charts: built from the report (also after a JSON round trip), the recommendation ringed."""

from __future__ import annotations

import json

import pandas as pd

from tests.test_cascade import LABELS, run_frame
from workbench.cascade import cascade_report
from workbench.charts_cascade import (
    calibration_frame,
    cascade_cost_accuracy,
    coverage_chart,
    policy_frame,
    reliability_chart,
)


def report() -> dict:
    frame = run_frame()
    probs = pd.Series(0.9, index=frame["item_id"], dtype=float)
    return json.loads(json.dumps(cascade_report(frame, {1: LABELS}, "nano", "mini", probs, tolerance=0.05)))


def test_cost_accuracy_has_every_policy_the_ends_and_other_cells() -> None:
    r = report()
    other = {"model": "gpt-4.1", "temperature": 0.0, "prompt_name": "p", "accuracy": 0.9, "cost_per_1k_usd": 9.0}
    frame = policy_frame(r, [other])
    assert len(frame) == len(r["policies"]) + 3
    assert frame["recommended"].sum() == 1
    singles = frame[frame["kind"] == "single cell"]["name"].tolist()
    assert singles == ["mini @ 0", "nano @ 0.7", "gpt-4.1 @ 0"]
    spec = cascade_cost_accuracy(r, [other]).to_dict()
    assert "ring: recommended" in json.dumps(spec["title"])


def test_calibration_charts_carry_each_signal() -> None:
    r = report()
    frame = calibration_frame(r)
    assert set(frame["signal"]) == {"agreement", "logprob", "parsed"}
    assert frame.groupby("signal")["n"].sum().eq(r["samples"]).all()  # every sample in one bin
    reliability_chart(r).to_dict()
    spec = coverage_chart(r).to_dict()
    assert len(next(iter(spec["datasets"].values()))) == 3 * 10
