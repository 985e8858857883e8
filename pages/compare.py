"""Compare: which prompt × model × temperature wins a run, at what cost, and where the models disagree."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from workbench import charts, metrics
from workbench.delivery import describe
from workbench.storage import repository as repo
from workbench.ui import cascade, chrome, run_notes
from workbench.ui import compare_view as view
from workbench.ui.results import csv_bytes, draw, run_view
from workbench.ui.widgets import capped_table, plain, run_picker, shown_errors

DISAGREEMENT_CAP = 200
SAMPLE_CAP = 200

ctx = chrome.page()
st.title("Compare")

runs = repo.list_runs(ctx.engine)
if runs.empty:
    st.info("No runs yet. Start a sweep on the Sweep page; its results appear here.")
    st.page_link("pages/sweep.py", label="Go to Sweep", icon=":material/play_circle:")
    st.stop()

# --- which run: ?run=ID, else the one this session just ran, else the latest -------------------------
run_id = run_picker(runs, "compare_run", recent=st.session_state.get("compare_run_id"))

run = repo.get_run(ctx.engine, run_id)
row = runs[runs["id"] == run_id].iloc[0]
st.caption(
    plain(
        f"Prompt {row['prompt']} · sample set {row['dataset']} · models {row['models']} · temperatures "
        f"{row['temperatures']} · {run.repeats} repeat(s) · status {run.status} · delivery "
        f"{describe(run.delivery, ctx.wb.saving(run))} · created "
        f"{pd.Timestamp(run.created_at):%Y-%m-%d %H:%M} UTC"
        + (f" by {run.created_by or 'someone without sign-in'}" if ctx.signed_in else "")
    )
)
with st.expander("What counts as good enough"):
    tolerance_points = st.slider(
        "Tolerance (accuracy points below the best)",
        0.0,
        10.0,
        2.0,
        0.5,
        help="Without a required accuracy, the recommendation is the cheapest cell within this many points of "
        "the best.",
    )
    target, volume = view.target_fields()

results = None
with shown_errors():
    results = run_view(ctx.engine, run_id, tolerance_points / 100, target, volume)  # shared by every session
if results is None:
    st.stop()
frame, report = results.frame, results.report
cells = report["cells"]
if not any(c["n"] for c in cells):
    run_notes.no_answers(run)
    st.stop()

several = len({c["prompt_version_id"] for c in cells}) > 1
rec = report["recommendation"]


# --- recommendation and leaderboard ------------------------------------------------------------------
view.recommendation(rec)
run_notes.partial(run)


board = view.leaderboard(report, rec, several, run.repeats)
st.subheader("Leaderboard")
st.dataframe(
    board,
    hide_index=True,
    column_config=view.leaderboard_columns(),
)
st.caption(
    "Accuracy counts unparsed answers as wrong; the 95% interval counts samples, not repeats (a Wilson interval "
    "with the sample as the unit). Cost per 1k is what 1,000 items cost at this run's billed usage (unknown when "
    "a model's price is not in the catalog)."
)

# --- charts ------------------------------------------------------------------------------------------
view.chart_grid(results, len(json.loads(run.temperatures_json)), run.repeats)


# --- one cell: confusion matrix and drill-down --------------------------------------------------------
st.subheader("Confusion matrix")
names = [metrics.cell_name(c, several) for c in cells]
default = next((i for i, c in enumerate(cells) if view.same_cell(c, rec)), 0)
chosen = st.selectbox("Cell", range(len(cells)), index=default, format_func=names.__getitem__, key=f"cmp_cell_{run_id}")
cell = cells[chosen]
left, right = st.columns([3, 2])
draw(left, results, f"confusion {chosen}", lambda: charts.confusion_heatmap(cell), key="cmp_confusion")
with right:
    st.markdown("**Per label**")
    st.dataframe(
        view.per_class(cell),
        hide_index=True,
        column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")},
    )
    square = st.selectbox(
        "Show the samples of",
        view.confusion_squares(cell),
        format_func=lambda s: f"gold {s[0]} → answered {s[1]} ({s[2]:,})",
        key=f"cmp_square_{run_id}_{chosen}",
    )


if square is not None:
    picked = metrics.samples_for(frame, cell, gold=square[0], predicted=square[1])
    capped_table(
        view.expand_variables(picked),
        what="answers",
        cap=SAMPLE_CAP,
        column_config={
            "sample_index": st.column_config.NumberColumn("sample"),
            "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%.6f"),
            "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.0f"),
        },
    )

# --- disagreements and hard set ------------------------------------------------------------------------
st.subheader("Where the answers disagree")
hard = results.memo("hard set", lambda: metrics.hard_set(frame))
if not hard:
    st.caption("Every answered sample got the same label from every cell and repeat.")
else:
    table = results.memo("disagreements", lambda: view.expand_variables(metrics.disagreements(frame)))
    st.caption(
        f"{len(hard):,} sample(s) where cells (or a cell's repeats) answered differently; one column per cell, "
        "repeats joined by “/”."
    )
    capped_table(
        table,
        what="samples",
        cap=DISAGREEMENT_CAP,
        column_config={"sample_index": st.column_config.NumberColumn("sample")},
    )
    if ctx.can("edit") and st.button(
        f"Save these {len(hard):,} samples as a new sample set",
        help="A hard set to iterate on quickly",
        key="cmp_save_hard",
    ):
        with shown_errors():
            source = repo.load_dataset(ctx.engine, run.dataset_id)
            subset = source.subset(hard, name=f"{source.name} · hard set of run {run.id}")
            stored = repo.save_dataset(ctx.engine, subset, source=f"hard set of run #{run.id}", created_by=ctx.user.id)
            st.success(f"Stored as sample set “{plain(stored.name)}” (#{stored.id}); pick it on the Sweep page.")

# --- paired tests ----------------------------------------------------------------------------------------
st.subheader("Paired comparisons")
pairs = report["pairs"]
if not pairs:
    st.caption("Paired tests need two or more cells with the same labels.")
else:
    tests = view.paired_tests(pairs, several)
    capped_table(tests, what="pairs", cap=100)
    st.caption(
        "Exact McNemar test over the samples both cells answered (with repeats, a sample counts as right when most "
        "of its answers are); p < 0.05 means the difference is unlikely to be chance."
    )

# --- cascade: cheap first, strong when unsure ------------------------------------------------------------
cascade.section(ctx.wb, run_id, frame, results.labels, cells, tolerance_points / 100)

# --- downloads ------------------------------------------------------------------------------------------
a, b = st.columns(2)
a.download_button(
    "Download leaderboard (CSV)", csv_bytes(board), file_name=f"run-{run.id}-leaderboard.csv", mime="text/csv"
)
b.download_button(
    "Download every answer (CSV)",
    lambda: results.memo("answers csv", lambda: csv_bytes(metrics.per_sample(frame))),  # made when clicked
    file_name=f"run-{run.id}-answers.csv",
    mime="text/csv",
)
