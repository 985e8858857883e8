"""The Sweep page's run: the one this session started (progress in the main area, Resume right after a
Cancel), a run of the very plan on screen that is already executing (no second one), and how long a
sweep should take."""

from __future__ import annotations

import streamlit as st

from workbench import formatting as fmt
from workbench import runs
from workbench.errors import WorkbenchError
from workbench.planning_aids import estimate_duration
from workbench.storage import repository as repo
from workbench.storage.history import typical_latency_ms
from workbench.storage.liveness import is_live
from workbench.storage.models import Run
from workbench.sweep import Plan
from workbench.ui import progress
from workbench.ui.services import Context
from workbench.ui.widgets import plain, shown_errors

RUN_KEY = "sweep_run_id"  # the run this session started or resumed from the Sweep page


def running_now(ctx: Context, plan: Plan) -> Run | None:
    """A run of this very plan that is executing now (here, in another tab, or from the CLI)."""
    run = repo.find_unfinished_run(ctx.engine, plan.plan_hash)
    return run if run is not None and is_live(run) else None


def session_run_active(ctx: Context) -> bool:
    """Whether the run this session started is running (the spend tiles then follow it)."""
    run_id = st.session_state.get(RUN_KEY)
    if run_id is None:
        return False
    try:
        return repo.get_run(ctx.engine, run_id).status in progress.ACTIVE
    except WorkbenchError:
        return False


def needs_polling(ctx: Context, run_id: int) -> bool:
    """While the run runs, or its job is still winding down after it ended (Resume waits for that)."""
    job = ctx.jobs.job(run_id)
    if job is not None and job.thread.is_alive():
        return True
    try:
        return repo.get_run(ctx.engine, run_id).status in progress.ACTIVE
    except WorkbenchError:
        return False


def duration_text(ctx: Context, plan: Plan, estimate: dict, concurrency: int) -> str:
    """About how long the new calls take, from the latencies measured so far (an estimate)."""
    local = [name for name, model in ctx.session_wb.local.items() if model.managed]  # one call at a time
    latency = typical_latency_ms(ctx.engine, plan.models)
    return estimate_duration(estimate, latency, concurrency, local).text()


def resume(ctx: Context, run: Run) -> None:
    """Resume ``run`` in the background with every check a sweep has (budgets, key, models)."""
    with shown_errors():
        prepared = runs.prepare_resume(ctx.session_wb, ctx.actor(), run.id)
        runs.launch(ctx.session_wb, prepared, ctx.jobs.background)
        st.session_state[RUN_KEY] = run.id
        st.session_state.pop(f"sweep_refreshed_{run.id}", None)
        st.rerun(scope="app")


def watch(ctx: Context, run_id: int) -> None:
    """Progress of the session's run in the main area; when it ends, its outcome, and Resume if it stopped.

    Drawn as a fragment by the page (every second while :func:`needs_polling`)."""
    try:
        run = repo.get_run(ctx.engine, run_id)
    except WorkbenchError:
        st.caption(f"Run #{run_id} was deleted.")
        return
    st.subheader(f"Run #{run.id}: {plain(run.name)}")
    if run.status in progress.ACTIVE:
        progress.show(ctx, run, key="sweep")
        return
    refreshed = f"sweep_refreshed_{run.id}"
    if not st.session_state.get(refreshed):
        # The run just ended: redraw the whole page once so the estimate above counts its answers as stored.
        st.session_state[refreshed] = True
        st.rerun(scope="app")
    snap = progress.snapshot(ctx, run.id)
    st.progress(snap.fraction, text=f"{snap.done:,} of {snap.total:,}")
    summary = plain(f"spent {fmt.money(snap.spent_usd)} · {snap.errors:,} errors")
    if run.status == "completed":
        st.success(f"Completed: {summary}.")
    else:
        st.warning(f"{run.status.capitalize()}: {plain(run.error or 'not finished')} ({summary}).")
        job = ctx.jobs.job(run.id)
        settled = job is None or not job.thread.is_alive()  # its job may still be winding down for a moment
        may_resume = run.status in progress.RESUMABLE and ctx.user.may_change(run.created_by) and settled
        if not settled:
            st.caption("Stopping…")
        elif may_resume and st.button(
            f"Resume run #{run.id}", key=f"sweep_resume_{run.id}", icon=":material/play_arrow:"
        ):
            resume(ctx, run)
    st.session_state["compare_run_id"] = run.id
    st.page_link(
        "pages/compare.py",
        label=f"Open run #{run.id} in Compare",
        icon=":material/leaderboard:",
        query_params={"run": str(run.id)},
    )
