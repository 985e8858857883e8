"""Compare: which prompt × model × temperature wins a run, at what cost, and where the models disagree."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from workbench import metrics
from workbench.delivery import describe
from workbench.storage import repository as repo
from workbench.ui import chrome, run_notes
from workbench.ui import compare_sections as sections
from workbench.ui import compare_view as view
from workbench.ui.results import csv_bytes, run_view
from workbench.ui.widgets import plain, run_picker, shown_errors

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
view.billing(ctx.engine, ctx.wb.catalog, run.id)  # answers from another model, paid attempts refused
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


# --- the rest on demand: confusion matrix, disagreements, paired tests, cascade ----------------------
sections.draw_sections(ctx, run, results, tolerance_points / 100, sections.picked())

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
