"""Sweep: prompt versions × models × efforts × temperatures × repeats over a sample set, estimate first."""

from __future__ import annotations

import streamlit as st

from workbench import runs
from workbench.errors import InputError
from workbench.pricing import EFFORTS
from workbench.storage import repository as repo
from workbench.storage.history import fitting_dataset
from workbench.sweep import parse_temperatures
from workbench.ui import chrome, form_memory, services, sweep_run
from workbench.ui import delivery as delivery_choice
from workbench.ui import sweep_view as view
from workbench.ui.form_memory import initial
from workbench.ui.widgets import dataset_options, shown_errors, version_options

KEPT = ("sweep_prompts", "sweep_dataset", "sweep_subset", "sweep_n", "sweep_seed", "sweep_models",
        "sweep_temperatures", "sweep_repeats", "sweep_concurrency", "sweep_budget", "sweep_name")  # fmt: skip

ctx = chrome.page()
st.title("Sweep")
st.caption(
    "Run every chosen prompt version on every sample with every model and temperature. Answers already "
    "stored for an identical request are reused for free; new answers are stored as they arrive, so leaving "
    "this page loses nothing paid for."
)


if sweep_run.session_run_active(ctx):
    st.fragment(run_every=2)(view.spend_panel)(ctx)  # spend goes up as answers arrive
else:
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

# --- what to run (kept for the session: leaving the page forgets nothing) ------------------------
form_memory.restore(KEPT)
requested = [v for v in st.session_state.pop("sweep_prompt_ids", []) if v in versions]
if requested:  # "Sweep this version" on the Prompts page
    st.session_state["sweep_prompts"] = requested
    form_memory.forget("sweep_dataset")


def fitting(ids: list[int]) -> int | None:
    """The newest sample set the first chosen prompt can run on."""
    if not ids:
        return None
    return fitting_dataset(ctx.engine, repo.get_prompt_version(ctx.engine, ids[0])[1], datasets)


def prompts_changed() -> None:
    st.session_state["sweep_dataset"] = fitting(st.session_state["sweep_prompts"]) or next(iter(datasets))


left, right = st.columns(2)
with left:
    prompt_ids = st.multiselect(
        "Prompt versions",
        list(versions),
        format_func=versions.get,
        key="sweep_prompts",
        on_change=prompts_changed,
        help="Choose several versions to compare prompts in one run.",
        **form_memory.initial("sweep_prompts", default=[next(iter(versions))]),
    )
    if st.session_state.get("sweep_dataset") not in datasets:
        st.session_state["sweep_dataset"] = fitting(prompt_ids) or next(iter(datasets))
    dataset_id = st.selectbox("Sample set", list(datasets), format_func=datasets.get, key="sweep_dataset")
    subset = st.radio("Samples", ["All", "Stratified subset"], horizontal=True, key="sweep_subset")
    n_samples, seed = None, 0
    if subset == "Stratified subset":
        a, b = st.columns(2)
        n_samples = a.number_input("How many", min_value=1, step=10, key="sweep_n", **initial("sweep_n", value=20))
        seed = b.number_input("Seed", min_value=0, step=1, key="sweep_seed", **initial("sweep_seed", value=0))
with right:
    choices = services.model_choices(ctx)
    models = st.multiselect(
        "Models",
        choices,
        accept_new_options=True,
        **initial("sweep_models", default=[m for m in services.default_models(ctx) if m in choices]),
        key="sweep_models",
        help="Models the server offers and models with a known price; type another id to add it.",
    )
    temperatures_text = st.text_input(
        "Temperatures",
        key="sweep_temperatures",
        help="Comma-separated values in 0-2.",
        **initial("sweep_temperatures", value="0, 0.5, 1"),
    )
    efforts = st.multiselect(
        "Reasoning efforts",
        list(EFFORTS),
        default=["none", "low"],
        key="sweep_efforts",
        help="For reasoning models (GPT-6, GPT-5): each gets only the efforts it takes, and temperatures only "
        "where it takes one (GPT-6 at effort none). Empty: each model's default effort. Other models ignore this.",
    )
    a, b = st.columns(2)
    repeats = a.number_input(
        "Repeats", 1, 50, key="sweep_repeats", help="Calls per sample and cell", **initial("sweep_repeats", value=1)
    )
    concurrency = b.number_input(
        "Concurrency", 1, 64, key="sweep_concurrency", help="Parallel calls", **initial("sweep_concurrency", value=8)
    )
    budget = st.number_input(
        "Budget (USD)",
        min_value=0.0,
        step=0.5,
        format="%.6g",
        key="sweep_budget",
        help="0: no cap. A sweep estimated over it is refused before any call; a sweep that reaches it stops.",
        **initial("sweep_budget", value=1.0),
    )
    run_name = st.text_input(
        "Run name (optional)", placeholder="e.g. nano vs mini, new system prompt", key="sweep_name"
    )
    logprobs = st.checkbox(
        "Record logprobs",
        key="sweep_logprobs",
        help="Ask models that return them (per the catalog) for logprobs: the confidence Compare's cascade uses.",
    )
    delivery = delivery_choice.choose()

form_memory.keep(KEPT)

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
        efforts=efforts,
        delivery=delivery,
    )
running = None
if prepared is not None:
    view.estimate_panel(prepared.estimate)
    st.caption(f"Duration: {sweep_run.duration_text(ctx, prepared.plan, prepared.estimate, int(concurrency))}.")
    delivery_choice.price_and_wait(prepared.estimate)
    if prepared.refusal is not None:
        view.refusal(prepared.refusal, prepared.estimate)
    running = sweep_run.running_now(ctx, prepared.plan)
    if running is not None:
        st.info(f"Run #{running.id} of this very sweep is running: follow it below (a second one would pay twice).")
        st.session_state.setdefault("sweep_run_id", running.id)

runnable = prepared is not None and prepared.ok and running is None
if st.button("Run sweep", type="primary", disabled=not runnable, key="sweep_run") and runnable:
    with shown_errors():
        launched = runs.launch(ctx.session_wb, prepared, ctx.jobs.background)
        if launched.continued:
            st.info(
                f"Resuming run #{launched.run.id} ({launched.run.status}): only items without a stored answer are "
                "called."
            )
        st.session_state["sweep_run_id"] = launched.run.id


# --- the run started from this session: progress here, Resume right after a Cancel ----------------------
if "sweep_run_id" in st.session_state:
    watched = st.session_state["sweep_run_id"]
    # Follow the run every second while it runs (or its job winds down); once it has ended, stop polling.
    st.fragment(sweep_run.watch, run_every=1 if sweep_run.needs_polling(ctx, watched) else None)(ctx, watched)
