"""Runs: every sweep with its status, calls and cost; open, re-run, resume or delete one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import charts, runs
from workbench import formatting as fmt
from workbench.errors import InputError
from workbench.storage import repository as repo
from workbench.storage.liveness import is_live
from workbench.ui import chrome
from workbench.ui.widgets import capped_table, mine_only, shown_errors

ctx = chrome.page()
st.title("Runs")

all_runs = runs.list_runs(ctx.wb)
if all_runs.empty:
    st.info("No runs yet. Start one on the Sweep page: the example prompts and sample sets are ready to use.")
    st.page_link("pages/sweep.py", label="Go to Sweep", icon=":material/play_circle:")
    st.stop()


def _split(column: str) -> list[str]:
    return sorted({part for value in all_runs[column].dropna() for part in str(value).split(", ") if part})


# --- filters ---------------------------------------------------------------------------------------
created = pd.to_datetime(all_runs["created_at"])
first_day, last_day = created.min().date(), created.max().date()
with st.container(border=True):
    a, b, c, d, e = st.columns([2, 2, 2, 2, 3])
    prompts = a.multiselect("Prompt", _split("prompt"), placeholder="all")
    data_sets = b.multiselect("Sample set", sorted(all_runs["dataset"].dropna().unique()), placeholder="all")
    models = c.multiselect("Model", _split("models"), placeholder="all")
    statuses = d.multiselect("Status", sorted(all_runs["status"].unique()), placeholder="all")
    days = e.date_input("Created between", value=(first_day, last_day), format="YYYY-MM-DD")
    mine = mine_only(ctx.signed_in, "runs_mine", "runs")

shown = all_runs
if mine:
    shown = shown[shown["created_by"] == ctx.user.id]
if prompts:
    shown = shown[shown["prompt"].map(lambda v: any(p in str(v).split(", ") for p in prompts))]
if data_sets:
    shown = shown[shown["dataset"].isin(data_sets)]
if models:
    shown = shown[shown["models"].map(lambda v: any(m in str(v).split(", ") for m in models))]
if statuses:
    shown = shown[shown["status"].isin(statuses)]
if isinstance(days, tuple) and len(days) == 2:
    day = pd.to_datetime(shown["created_at"]).dt.date
    shown = shown[(day >= days[0]) & (day <= days[1])]

columns = ["id", "name", "status", "paid", "reused", "prompt", "dataset", "models", "efforts", "calls", "answered"]
columns += ["errors", "delivery"]
columns += ["key_kind", "created_at", *(["created_by"] if ctx.signed_in else []), "error"]
table = shown.assign(
    paid=[fmt.money(None if pd.isna(v) else v) for v in shown["spent_usd"]],
    reused=[fmt.money(None if pd.isna(v) else v) for v in shown["reused_usd"]],
)[columns]
st.caption(f"{len(shown):,} of {len(all_runs):,} runs")
capped_table(
    table,
    what="runs",
    column_config={  # narrow numbers and status, so cost and "paid with" stay in view at 1,400 px
        "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm", width=125),
        "id": st.column_config.NumberColumn("run", width=45),
        "status": st.column_config.TextColumn(width=85),
        "dataset": st.column_config.TextColumn("sample set"),
        **{n: st.column_config.NumberColumn(width=60) for n in ("calls", "answered", "errors")},
        "paid": st.column_config.TextColumn("paid", width=85, help="New calls this run made and paid for"),
        "reused": st.column_config.TextColumn(
            "reused", width=85, help="What the answers this run reused (earlier runs, Try it) cost when they were paid"
        ),
        "error": st.column_config.TextColumn("problem", width="large"),
        "key_kind": st.column_config.TextColumn(
            "paid with", width=70, help="server: the server's key; user: the maker's own"
        ),
        "delivery": st.column_config.TextColumn("delivery", help="standard; flex and batch: half price"),
        "created_by": st.column_config.TextColumn("by"),
    },
)

# --- actions on one run ----------------------------------------------------------------------------
if not shown.empty:
    labels = {int(r.id): f"#{r.id} · {r.name} · {r.status}" for r in shown.itertuples()}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="runs_pick")
    run = repo.get_run(ctx.engine, run_id)
    actor = ctx.actor()
    owned = ctx.user.may_change(run.created_by)  # its maker or an admin
    o, r, s, x = st.columns(4, vertical_alignment="center")
    o.page_link(
        "pages/compare.py", label="Open in Compare", icon=":material/leaderboard:", query_params={"run": str(run.id)}
    )
    rerun = resume = delete = False
    if ctx.can("run"):
        rerun = r.button(
            "Re-run",
            key="runs_rerun",
            help="The same plan as a new run of yours: stored answers are reused for free, only new ones are called.",
        )
    if owned:
        resume = s.button(
            "Resume",
            key="runs_resume",
            disabled=run.status == "completed" or is_live(run),
            help="Call only the items of this run that have no stored answer yet.",
        )
        with x.popover("Delete", icon=":material/delete:"):
            st.caption("Deletes the run and its results table. Stored answers stay and are reused by later runs.")
            delete = st.button("Delete this run", type="primary", key="runs_delete")
    if not ctx.can("run"):
        chrome.read_only(ctx, "re-run, resume or delete runs")
    elif not owned:
        st.caption("Only its maker or an admin can resume or delete this run; re-running it makes a run of yours.")

    with shown_errors():
        if rerun or resume:
            prepared = (
                runs.prepare_resume(ctx.session_wb, actor, run.id)
                if resume
                else runs.prepare_rerun(ctx.session_wb, actor, run.id)
            )
            target = runs.launch(ctx.session_wb, prepared, ctx.jobs.background).run
            st.session_state["sweep_run_id"] = target.id
            st.success(f"Run #{target.id} started: its progress is in the sidebar.")
            st.page_link("pages/sweep.py", label="Watch it on the Sweep page", icon=":material/play_circle:")
        if delete:
            if run.status == "running":
                raise InputError(f"run {run.id} is running; cancel it first")
            repo.delete_run(ctx.engine, run.id)
            st.toast(f"Deleted run #{run.id}; its stored answers stay available for reuse.")
            st.rerun()

# --- spend ------------------------------------------------------------------------------------------
st.divider()
spend = repo.spend_per_day(ctx.engine)
if spend.empty:
    st.caption("Spend per day: nothing paid for yet.")
else:
    st.altair_chart(charts.spend_per_day(spend), key="runs_spend")
    st.caption(
        f"New calls paid for, by the day their answers arrived (UTC). Total {fmt.money(spend['cost_usd'].sum())}."
    )
