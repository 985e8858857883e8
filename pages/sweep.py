"""Sweep: prompt versions × models × temperatures × repeats over a sample set, with an estimate first."""

from __future__ import annotations

import contextlib

import streamlit as st

from workbench import formatting as fmt
from workbench import runs
from workbench.errors import InputError, WorkbenchError
from workbench.storage import repository as repo
from workbench.sweep import parse_temperatures
from workbench.ui import chrome, progress, services
from workbench.ui import sweep_view as view
from workbench.ui.widgets import dataset_for_prompt, dataset_options, plain, shown_errors, version_options

ctx = chrome.page()
st.title("Sweep")
st.caption(
    "Run every chosen prompt version on every sample with every model and temperature. Answers already "
    "stored for an identical request are reused for free; new answers are stored as they arrive, so leaving "
    "this page loses nothing paid for."
)


view.spend_panel(ctx)

if not ctx.can("run"):
    chrome.read_only(ctx, "run sweeps")
    st.stop()

versions = version_options(ctx.engine)
datasets = dataset_options(ctx.engine)
if not versions or not datasets:
    st.info(
        "A sweep needs a prompt and a sample set: write one on the Prompts page, upload samples on the Samples page."
    )
    st.stop()

# --- what to run -----------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    preselected = [v for v in st.session_state.get("sweep_prompt_ids", []) if v in versions] or [next(iter(versions))]
    prompt_ids = st.multiselect(
        "Prompt versions",
        list(versions),
        default=preselected,
        format_func=versions.get,
        key="sweep_prompts",
        help="Choose several versions to compare prompts in one run.",
    )
    first_name = versions[prompt_ids[0]].split(" v")[0] if prompt_ids else ""
    suggested = dataset_for_prompt(datasets, first_name)
    dataset_ids = list(datasets)
    dataset_id = st.selectbox(
        "Sample set",
        dataset_ids,
        index=dataset_ids.index(suggested) if suggested in dataset_ids else 0,
        format_func=datasets.get,
        key=f"sweep_dataset_{first_name}",
    )
    subset = st.radio("Samples", ["All", "Stratified subset"], horizontal=True, key="sweep_subset")
    n_samples, seed = None, 0
    if subset == "Stratified subset":
        a, b = st.columns(2)
        n_samples = a.number_input("How many", min_value=1, value=20, step=10, key="sweep_n")
        seed = b.number_input("Seed", min_value=0, value=0, step=1, key="sweep_seed")
with right:
    choices = services.model_choices(ctx)
    models = st.multiselect(
        "Models",
        choices,
        default=[m for m in services.default_models(ctx) if m in choices],
        accept_new_options=True,
        key="sweep_models",
        help="Models the server offers and models with a known price; type another id to add it.",
    )
    temperatures_text = st.text_input(
        "Temperatures", value="0, 0.5, 1", key="sweep_temperatures", help="Comma-separated values in 0-2."
    )
    a, b = st.columns(2)
    repeats = a.number_input(
        "Repeats", min_value=1, max_value=50, value=1, key="sweep_repeats", help="Calls per sample and cell"
    )
    concurrency = b.number_input(
        "Concurrency", min_value=1, max_value=64, value=8, key="sweep_concurrency", help="Parallel calls"
    )
    budget = st.number_input(
        "Budget (USD)",
        min_value=0.0,
        value=1.0,
        step=0.5,
        format="%.6g",
        key="sweep_budget",
        help="0: no cap. A sweep estimated over it is refused before any call; a sweep that reaches it stops.",
    )
    run_name = st.text_input(
        "Run name (optional)", placeholder="e.g. nano vs mini, new system prompt", key="sweep_name"
    )
    logprobs = st.checkbox(
        "Record logprobs",
        key="sweep_logprobs",
        help="Ask models that return them (per the catalog) for logprobs: the confidence Compare's cascade uses.",
    )

# --- plan and estimate -------------------------------------------------------------------------
max_cost = float(budget) if budget else None
prepared = None
with shown_errors():
    if not prompt_ids:
        raise InputError("choose at least one prompt version")
    if not models:
        raise InputError("choose at least one model")
    samples = repo.load_dataset(ctx.engine, dataset_id)
    if n_samples:
        samples = samples.stratified(int(n_samples), int(seed))
    prepared = runs.prepare_sweep(
        ctx.session_wb,
        ctx.actor(),
        [repo.get_prompt_version(ctx.engine, pid)[1] for pid in prompt_ids],
        samples,
        models,
        parse_temperatures(temperatures_text),
        int(repeats),
        source=f"data set #{dataset_id}",
        max_cost_usd=max_cost,
        name=run_name.strip(),
        concurrency=int(concurrency),
        logprobs=logprobs,
    )
if prepared is not None:
    view.estimate_panel(prepared.estimate)
    if prepared.refusal is not None:
        view.refusal(prepared.refusal, prepared.estimate)

runnable = prepared is not None and prepared.ok
if st.button("Run sweep", type="primary", disabled=not runnable, key="sweep_run") and runnable:
    with shown_errors():
        launched = runs.launch(ctx.session_wb, prepared, ctx.jobs.background)
        if launched.continued:
            st.info(
                f"Resuming run #{launched.run.id} ({launched.run.status}): only items without a stored answer are "
                "called."
            )
        st.session_state["sweep_run_id"] = launched.run.id


# --- the run started from this session ------------------------------------------------------------
def watch(run_id: int) -> None:
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
        st.warning(
            f"{run.status.capitalize()}: {plain(run.error or 'not finished')} ({summary}). Resume it on the Runs page."
        )
    st.session_state["compare_run_id"] = run.id
    st.page_link(
        "pages/compare.py",
        label=f"Open run #{run.id} in Compare",
        icon=":material/leaderboard:",
        query_params={"run": str(run.id)},
    )


if "sweep_run_id" in st.session_state:
    watched, active = st.session_state["sweep_run_id"], False
    with contextlib.suppress(WorkbenchError):  # a deleted run: watch() says so
        active = repo.get_run(ctx.engine, watched).status in progress.ACTIVE
    # Follow the run every second while it runs; once it has ended, the page stops polling.
    st.fragment(watch, run_every=1 if active else None)(watched)
