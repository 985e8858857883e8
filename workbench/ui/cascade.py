"""Compare's cascade section: pick a cheap and a strong cell, see every policy, calibration, the escalated samples.

Every number comes from :meth:`workbench.service.Workbench.cascade` (``workbench.cascade``); this
module picks the cells, caches per run state and draws.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from workbench import charts_cascade
from workbench.cascade import FOLDS, MIN_SAMPLES, escalated_samples, prepare
from workbench.cell_choice import cell_text, cells_of
from workbench.formatting import money, percent
from workbench.metrics import cell_name
from workbench.service import Workbench
from workbench.storage.results import answer_probabilities
from workbench.ui.results import RunView, draw
from workbench.ui.widgets import capped_table, plain, shown_errors

HEIGHT = 380


def cascade_report(
    wb: Workbench, results: RunView, run_id: int, cheap: str, strong: str, tolerance: float, target: float | None
) -> dict[str, Any]:
    """The cascade report of two cells, computed once per run version for every session (held by the
    run's shared view, :class:`workbench.ui.results.RunView`)."""
    key = _name(cheap, strong, tolerance, target)
    return results.memo(key, lambda: wb.cascade(run_id, cheap, strong, target=target, tolerance=tolerance))


def _name(cheap: str, strong: str, tolerance: float, target: float | None) -> str:
    """What a cascade's report and the things drawn from it are memoised under in the run's view."""
    return f"cascade {cheap!r} {strong!r} {tolerance!r} {target!r}"


def default_pair(cells: Sequence[Mapping[str, Any]], options: list[str], several: bool) -> tuple[int, int]:
    """Cheap: the cell of lowest known cost per 1k; strong: the most accurate (else the first two)."""
    position = {cell_text(c, several): i for i, c in enumerate(cells)}
    priced = [c for c in cells if c.get("cost_per_1k_usd") is not None and c.get("accuracy") is not None]
    if len(priced) < 2:
        return 0, min(1, len(options) - 1)
    cheap = min(priced, key=lambda c: (c["cost_per_1k_usd"], -c["accuracy"]))
    strong = max(priced, key=lambda c: (c["accuracy"], -c["cost_per_1k_usd"]))
    a, b = position.get(cell_text(cheap, several), 0), position.get(cell_text(strong, several), 1)
    return (a, b) if a != b else (0, 1)


def families_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Per signal and number of cheap calls: the cross-validated threshold, in-sample and held-out figures."""
    rows = [
        {
            "signal": c["signal"],
            "cheap calls": c["cheap_calls_per_sample"],
            "threshold": c["threshold"],
            "escalated %": c["in_sample"]["escalation_rate"] * 100,
            "accuracy % (in-sample)": c["in_sample"]["accuracy"] * 100,
            "accuracy % (held-out)": c["held_out"]["accuracy"] * 100,
            "cost per 1k": money(c["in_sample"]["cost_per_1k_usd"]),
            "p95 latency ms": c["in_sample"]["latency_p95_ms"],
        }
        for c in report["selected"]
    ]
    return pd.DataFrame(rows)


def section(wb: Workbench, run_id: int, results: RunView, tolerance: float) -> None:
    """The whole cascade section of Compare for one run (``results``: its shared view)."""
    frame, report_cells = results.frame, results.report["cells"]
    st.subheader("Cascade: cheap first, strong when unsure")
    cells = cells_of(frame)
    if len(cells) < 2:
        st.info("A cascade needs a run with two cells (a cheap and a strong model) on the same samples.")
        return
    samples = int(frame["sample_index"].nunique())
    if samples < MIN_SAMPLES:
        st.info(
            f"A cascade's thresholds are chosen by {FOLDS}-fold cross-validation over samples: it needs at least "
            f"{MIN_SAMPLES} samples, and this run has {samples}."
        )
        return
    several = len({c["prompt_version_id"] for c in cells}) > 1
    by_text = {cell_text(c, several): c for c in report_cells}
    texts = [cell_text(c, several) for c in cells]
    names = {t: cell_name(c, several) for t, c in zip(texts, cells, strict=True)}
    a, b = default_pair([by_text.get(t, c) for t, c in zip(texts, cells, strict=True)], texts, several)
    left, middle, right = st.columns(3)
    cheap = left.selectbox(
        "Cheap cell (answers first)", texts, index=a, format_func=names.get, key=f"casc_cheap_{run_id}"
    )
    strong = middle.selectbox(
        "Strong cell (takes the unsure samples)", texts, index=b, format_func=names.get, key=f"casc_strong_{run_id}"
    )
    target_pct = right.number_input(
        "Required accuracy % (0: within the tolerance of the strong cell)",
        min_value=0.0,
        max_value=100.0,
        value=0.0,
        step=1.0,
        key=f"casc_target_{run_id}",
    )
    report, target = None, (target_pct / 100 if target_pct else None)
    with shown_errors():
        report = cascade_report(wb, results, run_id, cheap, strong, tolerance, target)
    if report is None:
        return
    _summary(report)
    for signal in report["signals"]:
        if not signal["available"]:
            st.caption(plain(f"Signal {signal['signal']}: unavailable — {signal['reason']}."))
    chart_left, chart_right = st.columns([3, 2])
    name = _name(cheap, strong, tolerance, target)  # the specs, built once per run version for every session
    cost = lambda: charts_cascade.cascade_cost_accuracy(report, report_cells)  # noqa: E731
    draw(chart_left, results, f"{name} cost", cost, height=HEIGHT, key=f"casc_cost_{run_id}")
    if report["calibration"]:
        reliability = lambda: charts_cascade.reliability_chart(report)  # noqa: E731
        draw(chart_right, results, f"{name} reliability", reliability, height=HEIGHT, key=f"casc_rel_{run_id}")
        coverage = lambda: charts_cascade.coverage_chart(report)  # noqa: E731
        draw(chart_left, results, f"{name} coverage", coverage, height=HEIGHT, key=f"casc_cov_{run_id}")
    st.markdown("**Each signal with its threshold chosen by 5-fold cross-validation over samples**")
    st.dataframe(
        families_table(report),
        hide_index=True,
        column_config={
            k: st.column_config.NumberColumn(format="%.1f")
            for k in ("escalated %", "accuracy % (in-sample)", "accuracy % (held-out)")
        }
        | {"p95 latency ms": st.column_config.NumberColumn(format="%.0f")},
    )
    rec = report["recommended"]
    if rec:
        _escalated(wb, run_id, results, report, name)
        _downloads(wb, results, report, run_id, name)


def _summary(report: Mapping[str, Any]) -> None:
    rec = report["recommended"]
    if not rec:
        st.warning(plain(f"No cascade recommended: {report['reason']}."))
        return
    st.success(plain(f"Recommended: {report['reason']}."))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Held-out accuracy", percent(rec["held_out_accuracy"]), help="Thresholds chosen without these samples")
    c2.metric("In-sample accuracy", percent(rec["accuracy_all"]), help="Threshold chosen on all samples")
    c3.metric(
        "Cost per 1k items",
        money(rec["cost_per_1k_all_usd"]),
        delta=f"{-(rec['saving_vs_strong'] or 0):.0%} vs strong" if rec["saving_vs_strong"] is not None else None,
        delta_color="inverse",
    )
    c4.metric("Escalated", percent(rec["escalation_rate"]), help=f"{rec['escalated']} of {rec['n']} samples")


def _escalated(wb: Workbench, run_id: int, results: RunView, report: Mapping[str, Any], name: str) -> None:
    def table() -> pd.DataFrame:
        frame, rec = results.frame, report["recommended"]
        probabilities = answer_probabilities(wb.engine, run_id)
        data = prepare(frame, results.labels, report["cheap"], report["strong"], probabilities, run_id)
        escalated = escalated_samples(data, rec["signal"], rec["threshold"], rec["cheap_calls_per_sample"])
        texts = frame.drop_duplicates("sample_index").set_index("sample_index")["variables"]
        values = pd.DataFrame([json.loads(texts.get(r - 1) or "{}") for r in escalated["row"]], index=escalated.index)
        return pd.concat([escalated, values], axis=1)

    escalated = results.memo(f"{name} escalated", table)
    st.markdown(f"**The {len(escalated):,} samples the recommended cascade sends to the strong cell**")
    capped_table(
        escalated,
        what="samples",
        column_config={"confidence": st.column_config.NumberColumn(format="%.3f")},
    )
    st.caption("Row: the sample's 1-based data row in the run's sample set, as `escalated_rows` in the CLI's JSON.")


def _downloads(wb: Workbench, results: RunView, report: Mapping[str, Any], run_id: int, name: str) -> None:
    a, b, c = st.columns(3)
    with shown_errors():
        for column, language, title, suffix, mime in (
            (a, "python", "Python", "py", "text/x-python"),
            (b, "typescript", "TypeScript", "ts", "text/plain"),
        ):
            column.download_button(
                f"Download the cascade as {title}",
                results.memo(f"{name} {language}", lambda language=language: wb.cascade_code(dict(report), language)),
                file_name=f"run-{run_id}-cascade.{suffix}",
                mime=mime,
                key=f"casc_{suffix}_{run_id}",
            )
    c.download_button(
        "Download the cascade report (JSON)",
        lambda: json.dumps(report, indent=2),  # made when clicked
        file_name=f"run-{run_id}-cascade.json",
        mime="application/json",
        key=f"casc_json_{run_id}",
    )
