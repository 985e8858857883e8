"""The Compare page's tables and chart grid, built from a run's report (``workbench.metrics.build_report``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from workbench import charts, metrics
from workbench import formatting as fmt
from workbench.service import billing_notes, cut_off_notes
from workbench.ui.results import RunView, draw
from workbench.ui.widgets import plain

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from workbench.pricing import Catalog

Cell = dict[str, Any]


def same_cell(a: Cell, b: Cell | None) -> bool:
    keys = ("model", "reasoning_effort", "temperature", "prompt_version_id")
    return b is not None and all(a.get(k) == b.get(k) for k in keys)


def pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def target_fields() -> tuple[float | None, float | None]:
    """The required accuracy (a share) and the items a month the user gave; None for either left at 0."""
    target_pct = st.number_input(
        "Required accuracy (%)",
        0.0,
        100.0,
        0.0,
        1.0,
        help="0 = none. Each cell then meets it (its whole 95% interval is at or above it), does not (wholly "
        "below), or is unclear; the recommendation is the cheapest cell that meets it.",
    )
    volume = st.number_input("Items a month", 0, None, 0, 10_000, help="0 = not given. Adds the cost a month.")
    return (target_pct / 100 or None), (float(volume) or None)


def recommendation(rec: dict[str, Any] | None) -> None:
    """The recommendation's one sentence: green when a cell is recommended, amber when none is good enough."""
    if not rec:
        return
    if rec["meets_target"] in (None, "yes"):
        st.success(f"**Recommended:** {plain(rec['summary'])}")
    else:
        st.warning(plain(rec["summary"]))


def leaderboard(report: dict[str, Any], rec: dict[str, Any] | None, several: bool, repeats: int) -> pd.DataFrame:
    """One row per cell; the recommended and the most accurate cell are marked."""
    cells = report["cells"]

    def marker(cell: Cell) -> str:
        if same_cell(cell, rec):
            return " ★ recommended"
        return " · best accuracy" if rec and same_cell(cell, rec["best"]) else ""

    return pd.DataFrame(
        [
            {
                **({"prompt": c["prompt_label"]} if several else {}),
                "model": c["model"] + marker(c),
                "effort": c.get("reasoning_effort"),
                "temperature": c["temperature"],
                "reasoning tokens": c.get("reasoning_tokens"),
                "samples × repeats": fmt.sample_size(c["samples"], c["repeats"]),
                "accuracy %": pct(c["accuracy"]),
                "95% interval": fmt.interval(c["accuracy_ci95"]),
                **({"meets target": c["meets_target"]} if report["target"] is not None else {}),
                "macro-F1": c["macro_f1"],
                **({"consistency %": pct(c["consistency"])} if repeats > 1 else {}),
                "unparsed": c["unparsed"],
                "errors": c["errors"],
                "cost per 1k": fmt.money(c["cost_per_1k_usd"]),
                **({"cost a month": fmt.money(c["cost_per_month_usd"])} if report["volume_per_month"] else {}),
                "p50 latency ms": c["latency_p50_ms"],
                "tokens / answer": _tokens_per_answer(c),
            }
            for c in cells
        ]
    )


def _tokens_per_answer(cell: Cell) -> float | None:
    if not cell["n"] or cell.get("prompt_tokens") is None or cell.get("completion_tokens") is None:
        return None
    return (cell["prompt_tokens"] + cell["completion_tokens"]) / cell["n"]


def per_class(cell: Cell) -> pd.DataFrame:
    return pd.DataFrame(
        [{"label": label, **scores} for label, scores in cell["per_class"].items()],
        columns=["label", "precision", "recall", "f1", "support"],
    )


def confusion_squares(cell: Cell) -> list[tuple[str, str, int]]:
    """(gold, answered, count) of every non-empty square, mistakes first, biggest first."""
    conf = cell["confusion"]
    squares = [
        (gold, predicted, conf["matrix"][i][j])
        for i, gold in enumerate(conf["labels"])
        for j, predicted in enumerate(conf["columns"])
        if conf["matrix"][i][j]
    ]
    squares.sort(key=lambda s: (s[0] == s[1], -s[2]))
    return squares


def expand_variables(table: pd.DataFrame) -> pd.DataFrame:
    """The sample's variables as columns (they are stored as one JSON object per row)."""
    if "variables" not in table.columns or table.empty:
        return table
    values = pd.DataFrame([json.loads(v) if v else {} for v in table["variables"]], index=table.index)
    return pd.concat([table.drop(columns=["variables"]), values], axis=1)


def paired_tests(pairs: list[dict[str, Any]], several: bool) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "A": metrics.cell_name(p["a"], several),
                "B": metrics.cell_name(p["b"], several),
                "paired samples": p["n"],
                "A right, B wrong": p["a_only_correct"],
                "B right, A wrong": p["b_only_correct"],
                "A − B accuracy": fmt.points(p["diff"]),
                "95% interval": fmt.points_interval(p["diff_ci95"]),
                "McNemar": fmt.p_value(p["mcnemar_p"]),
            }
            for p in pairs
        ]
    )


CHART_HEIGHT = 420  # the whole chart, title and axes included: tall enough for the long axis titles


def leaderboard_columns() -> dict[str, Any]:
    """Short labels and narrow numbers, so latency and tokens stay in view at 1,400 px (full names on hover)."""
    number = st.column_config.NumberColumn
    return {
        "model": st.column_config.TextColumn(width="medium"),
        "effort": st.column_config.TextColumn("effort", width=55, help="reasoning effort sent (None: not sent)"),
        "temperature": number("T", format="%g", width=40, help="temperature"),
        "reasoning tokens": number("reasoning", format="%.0f", width=70, help="reasoning tokens, billed as output"),
        "samples × repeats": st.column_config.TextColumn("n", width=70, help="samples × repeats"),
        "accuracy %": number("acc. %", format="%.1f", width=60, help="accuracy %"),
        "95% interval": st.column_config.TextColumn("95% CI", width=85, help="95% Wilson interval of accuracy"),
        "macro-F1": number("F1", format="%.3f", width=50, help="macro-F1"),
        "consistency %": number("same %", format="%.1f", width=60, help="consistency % across repeats"),
        "unparsed": number("unparsed", width=65),
        "errors": number("errors", width=50),
        "cost per 1k": st.column_config.TextColumn("$ per 1k", width=75, help="cost per 1,000 items"),
        "cost a month": st.column_config.TextColumn("$ a month", width=80, help="cost at the monthly volume"),
        "p50 latency ms": number("p50 ms", format="%.0f", width=60, help="median latency, ms"),
        "tokens / answer": number("tokens", format="%.0f", width=60, help="prompt + completion tokens per answer"),
    }


def chart_grid(results: RunView, temperatures: int, repeats: int) -> None:
    """Cost vs accuracy, latency, and (when the run varies them) accuracy and consistency by temperature.

    Each chart's spec is built once per run version for every session (:func:`workbench.ui.results.draw`)."""
    report, frame = results.report, results.frame
    left, right = st.columns([3, 2])
    draw(left, results, "cost", lambda: charts.cost_vs_accuracy(report), height=CHART_HEIGHT, key="cmp_cost")
    draw(right, results, "latency", lambda: charts.latency_distribution(frame), height=CHART_HEIGHT, key="cmp_latency")
    left, right = st.columns(2)
    if temperatures > 1:
        draw(left, results, "acc", lambda: charts.accuracy_vs_temperature(report), height=CHART_HEIGHT, key="cmp_acc")
    else:
        left.info("Accuracy by temperature needs a run with 2 or more temperatures: set them on the Sweep page.")
    if repeats > 1 and temperatures > 1:
        draw(
            right,
            results,
            "consistency",
            lambda: charts.consistency_vs_temperature(report),
            height=CHART_HEIGHT,
            key="cmp_consistency",
        )
    else:
        right.info(
            "Consistency by temperature needs a run with 2 or more repeats and temperatures: set them on the Sweep "
            "page."
        )
    if charts.has_efforts(report):
        left, right = st.columns(2)
        draw(left, results, "acc_effort", lambda: charts.accuracy_vs_effort(report), height=CHART_HEIGHT, key="cmp_ae")
        draw(right, results, "cost_effort", lambda: charts.cost_vs_effort(report), height=CHART_HEIGHT, key="cmp_ce")
    for note in cut_off_notes(report["cells"]):
        st.warning(plain(note))


def billing(engine: Engine, catalog: Catalog, run_id: int) -> None:
    """What the run was billed that its cells do not show (answers from another model, paid refusals)."""
    for note in billing_notes(engine, catalog, run_id):
        st.warning(plain(note))
