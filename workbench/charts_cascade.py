"""Altair charts of a cascade report (``workbench.cascade.simulate``; no Streamlit).

Cost against accuracy with every policy beside the run's single cells, and per signal a reliability
diagram and accuracy at coverage. Each takes the report dict (also when read back from JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from workbench.cascade import rule_text
from workbench.charts import OKABE_ITO, PERCENT_FORMAT, USD_FORMAT, _share_scale
from workbench.metrics import cell_name

_KINDS = ["single cell", "cascade: agreement", "cascade: logprob", "cascade: parsed", "cheap calls, no escalation"]


def policy_frame(report: Mapping[str, Any], cells: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """One row per point of the cost-accuracy chart: each policy, the two ends and the run's other cells."""
    rows: list[dict[str, Any]] = []
    rec = report.get("recommended") or {}
    for p in report.get("policies", []):
        signal = p["signal"]
        rows.append(
            {
                "kind": "cheap calls, no escalation" if signal == "none" else f"cascade: {signal}",
                "name": rule_text(signal, p["threshold"] or 0.0, p["cheap_calls_per_sample"]),
                "accuracy": p["accuracy"],
                "cost_per_1k_usd": p["cost_per_1k_usd"],
                "escalation_rate": p["escalation_rate"],
                "cheap_calls": p["cheap_calls_per_sample"],
                "recommended": bool(rec)
                and signal == rec.get("signal")
                and p["threshold"] == rec.get("threshold")
                and p["cheap_calls_per_sample"] == rec.get("cheap_calls_per_sample"),
            }
        )
    ends = [(report["strong"], report["strong_alone"]), (report["cheap"], report["cheap_alone"])]
    named = {cell_name(side) for side, _ in ends}
    for side, figures in ends:
        rows.append(_single(cell_name(side), figures["accuracy"], figures["cost_per_1k_usd"]))
    for cell in cells:  # the run's other cells, as the leaderboard measures them (per answer)
        if cell_name(cell) not in named and cell.get("accuracy") is not None:
            rows.append(_single(cell_name(cell), cell["accuracy"], cell.get("cost_per_1k_usd")))
    frame = pd.DataFrame(rows, columns=["kind", "name", "accuracy", "cost_per_1k_usd", "escalation_rate",
                                        "cheap_calls", "recommended"])  # fmt: skip
    return frame[frame["cost_per_1k_usd"].notna() & frame["accuracy"].notna()].reset_index(drop=True)


def _single(name: str, accuracy: float | None, cost: float | None) -> dict[str, Any]:
    return {"kind": "single cell", "name": name, "accuracy": accuracy, "cost_per_1k_usd": cost,
            "escalation_rate": None, "cheap_calls": None, "recommended": False}  # fmt: skip


def cascade_cost_accuracy(report: Mapping[str, Any], cells: Sequence[Mapping[str, Any]] = ()) -> alt.TopLevelMixin:
    """Cost per 1,000 items against accuracy (in-sample) of every policy beside the single cells; ring: recommended."""
    data = policy_frame(report, cells)
    x = alt.X(
        "cost_per_1k_usd:Q",
        title="Cost per 1,000 items (USD)",
        axis=alt.Axis(format=USD_FORMAT),
        scale=alt.Scale(zero=False, padding=24),
    )
    y = alt.Y(
        "accuracy:Q",
        title="Accuracy (% of samples right)",
        axis=alt.Axis(format=PERCENT_FORMAT),
        scale=_share_scale(data["accuracy"], padding=24),
    )
    color = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=_KINDS, range=OKABE_ITO[: len(_KINDS)]),
        legend=alt.Legend(orient="bottom", columns=3, labelLimit=220),
    )
    base = alt.Chart(data).encode(x=x, y=y)
    points = base.mark_point(filled=True, size=60, opacity=0.7).encode(
        color=color,
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=_KINDS), legend=None),
        tooltip=[
            alt.Tooltip("name:N", title="Policy"),
            alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
            alt.Tooltip("cost_per_1k_usd:Q", title="Cost per 1k (USD)", format="$,.6~f"),
            alt.Tooltip("escalation_rate:Q", title="Escalated", format=".1%"),
        ],
    )
    singles = base.transform_filter(alt.datum.kind == "single cell").mark_text(dy=-12).encode(text="name:N")
    ring = base.transform_filter(alt.datum.recommended).mark_point(size=450, color="#000000", strokeWidth=2)
    title = "Cascades against single cells (in-sample; ring: recommended)"
    return alt.layer(points, singles, ring).properties(title=title)


def calibration_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {"signal": c["signal"], **b, "ece": c["ece"], "auroc": c["auroc"]}
        for c in report.get("calibration", [])
        for b in c["bins"]
    ]
    columns = ["signal", "low", "high", "n", "confidence", "accuracy", "ece", "auroc"]
    return pd.DataFrame(rows, columns=columns)


def reliability_chart(report: Mapping[str, Any]) -> alt.TopLevelMixin:
    """Per signal: accuracy against mean confidence in each bin (size: samples); the diagonal is perfect."""
    data = calibration_frame(report)
    data["label"] = [
        f"{s} · ECE {e:.2f} · AUROC {'-' if a is None or pd.isna(a) else f'{a:.2f}'}"
        for s, e, a in zip(data["signal"], data["ece"], data["auroc"], strict=True)
    ]
    share = alt.Axis(format=PERCENT_FORMAT)
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
        .mark_line(color="#999999", strokeDash=[4, 3])
        .encode(x="x:Q", y="y:Q")
    )
    base = alt.Chart(data).encode(
        x=alt.X("confidence:Q", title="Mean confidence in the bin", axis=share, scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("accuracy:Q", title="Cheap answers right", axis=share, scale=alt.Scale(domain=[0, 1])),
        color=alt.Color(
            "label:N",
            title=None,
            scale=alt.Scale(range=OKABE_ITO),
            legend=alt.Legend(orient="bottom", columns=1, labelLimit=320),
        ),
    )
    lines = base.mark_line(opacity=0.6)
    points = base.mark_point(filled=True).encode(
        size=alt.Size("n:Q", title="Samples", legend=None),
        tooltip=[
            alt.Tooltip("signal:N", title="Signal"),
            alt.Tooltip("low:Q", title="Bin from", format=".1f"),
            alt.Tooltip("high:Q", title="Bin to", format=".1f"),
            alt.Tooltip("n:Q", title="Samples"),
            alt.Tooltip("confidence:Q", title="Mean confidence", format=".1%"),
            alt.Tooltip("accuracy:Q", title="Right", format=".1%"),
        ],
    )
    return alt.layer(diagonal, lines, points).properties(title="Calibration of the cheap cell's confidence")


def coverage_chart(report: Mapping[str, Any]) -> alt.Chart:
    """Per signal: accuracy of the most confident share of samples."""
    rows = [{"signal": c["signal"], **p} for c in report.get("calibration", []) for p in c["coverage"]]
    data = pd.DataFrame(rows, columns=["signal", "coverage", "n", "accuracy"])
    share = alt.Axis(format=PERCENT_FORMAT)
    return (
        alt.Chart(data, title="Accuracy when only the most confident samples are kept")
        .mark_line(point=True)
        .encode(
            x=alt.X("coverage:Q", title="Samples kept (most confident first)", axis=share),
            y=alt.Y("accuracy:Q", title="Cheap answers right", axis=share, scale=_share_scale(data["accuracy"])),
            color=alt.Color(
                "signal:N", title="Signal", scale=alt.Scale(range=OKABE_ITO), legend=alt.Legend(orient="bottom")
            ),
            tooltip=[
                alt.Tooltip("signal:N", title="Signal"),
                alt.Tooltip("coverage:Q", title="Kept", format=".0%"),
                alt.Tooltip("n:Q", title="Samples"),
                alt.Tooltip("accuracy:Q", title="Right", format=".1%"),
            ],
        )
    )
