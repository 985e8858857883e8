"""Home: what the workbench does, where things stand, and the next step."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import formatting as fmt
from workbench.storage import repository as repo
from workbench.ui import chrome
from workbench.ui.results import run_report
from workbench.ui.widgets import plain, shown_errors

ctx = chrome.page()
st.title("Prompt workbench")
st.markdown(
    "Find the cheapest model, prompt, reasoning effort and temperature that is accurate enough for a "
    "classification job, and prove it with numbers: accuracy with intervals, consistency across repeats, exact "
    f"cost per 1,000 items. Today's cheap model and the next one up: {' and '.join(ctx.wb.catalog.default_pair())} "
    "(the project started from gpt-4.1-nano and gpt-4.1-mini; nano is shut down)."
)

chrome.model_notice(ctx)

versions = repo.list_prompt_versions(ctx.engine)
datasets = repo.list_datasets(ctx.engine)
runs = repo.list_runs(ctx.engine, limit=5)

steps = st.columns(4, border=True)
with steps[0]:
    st.markdown("**1 · Write a prompt**")
    st.caption(f"{versions['name'].nunique():,} prompts, {len(versions):,} versions stored.")
    st.page_link("pages/prompts.py", label="Prompts", icon=":material/edit_note:")
with steps[1]:
    st.markdown("**2 · Load labeled samples**")
    st.caption(f"{len(datasets):,} sample sets stored.")
    st.page_link("pages/samples.py", label="Samples", icon=":material/table_rows:")
with steps[2]:
    st.markdown("**3 · Run a sweep**")
    st.caption("Estimate first; stored answers are reused for free.")
    st.page_link("pages/sweep.py", label="Sweep", icon=":material/play_circle:")
with steps[3]:
    st.markdown("**4 · Compare and pick**")
    st.caption("Leaderboard, cost against accuracy, disagreements.")
    st.page_link("pages/compare.py", label="Compare", icon=":material/leaderboard:")

st.subheader("Latest runs")
if runs.empty:
    st.info(
        "No runs yet. The example prompts and sample sets from prompts/ are stored: open Sweep, pick one, "
        "and press Run sweep."
    )
else:
    for row in runs.itertuples():
        with st.container(border=True):
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.markdown(f"**#{row.id} · {plain(row.name)}**")
            left.caption(
                plain(
                    f"{row.status} · {row.calls:,} calls · models {row.models} · temperatures {row.temperatures}"
                    f" · paid {fmt.money(None if pd.isna(row.spent_usd) else row.spent_usd)}"
                    + (f", reused {fmt.money(row.reused_usd)}" if row.reused_usd else "")
                )
            )
            if row.status == "completed" and row.answered:
                with shown_errors():
                    report = run_report(ctx.engine, int(row.id), 0.02)
                    rec = report[2]["recommendation"]
                    if rec:
                        said = "Recommended: " if rec["meets_target"] in (None, "yes") else ""
                        left.caption(plain(said + rec["summary"]))
            right.page_link(
                "pages/compare.py", label="Open", icon=":material/leaderboard:", query_params={"run": str(row.id)}
            )
