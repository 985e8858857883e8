"""Compare: which prompt × model × temperature wins a run, at what cost, and where the models disagree."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from workbench import charts, metrics
from workbench.pricing import format_usd
from workbench.storage import repository as repo
from workbench.ui import chrome
from workbench.ui.results import csv_bytes, run_report
from workbench.ui.widgets import capped_table, plain, shown_errors

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
options = {int(r.id): f"#{r.id} · {r.name} · {r.status} · {r.calls:,} calls" for r in runs.itertuples()}
param = st.query_params.get("run")
if param and param != st.session_state.get("_compare_param"):
    st.session_state["_compare_param"] = param
    if param.isdigit() and int(param) in options:
        st.session_state["compare_run"] = int(param)
if st.session_state.get("compare_run") not in options:
    recent = st.session_state.get("compare_run_id")
    st.session_state["compare_run"] = recent if recent in options else next(iter(options))
run_id = st.selectbox("Run", list(options), format_func=options.get, key="compare_run")
st.session_state["_compare_param"] = str(run_id)
st.query_params["run"] = str(run_id)

run = repo.get_run(ctx.engine, run_id)
row = runs[runs["id"] == run_id].iloc[0]
st.caption(
    plain(
        f"Prompt {row['prompt']} · sample set {row['dataset']} · models {row['models']} · temperatures "
        f"{row['temperatures']} · {run.repeats} repeat(s) · status {run.status} · created "
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
        help="The recommendation is the cheapest cell whose accuracy is within this many points of the best.",
    )

report = None
with shown_errors():
    frame, labels, report = run_report(ctx.engine, run_id, tolerance_points / 100)
if report is None:
    st.stop()
cells = report["cells"]
if not any(c["n"] for c in cells):
    st.info("This run has no answers yet. Follow its progress in the sidebar, or resume it on the Runs page.")
    st.stop()

several = len({c["prompt_version_id"] for c in cells}) > 1
rec = report["recommendation"]


def same(a: dict, b: dict | None) -> bool:
    return b is not None and all(a[k] == b[k] for k in ("model", "temperature", "prompt_version_id"))


# --- recommendation and leaderboard ------------------------------------------------------------------
if rec:
    st.success(
        f"**Recommended: {plain(metrics.cell_name(rec, several))}** · {plain(rec['reason'])}; {plain(rec['verdict'])}."
    )
if run.status != "completed":
    st.warning(f"This run is {run.status}: figures cover the answers stored so far.")


def marker(cell: dict) -> str:
    if same(cell, rec):
        return " ★ recommended"
    return " · best accuracy" if rec and same(cell, rec["best"]) else ""


def pct(value: float | None) -> float | None:
    return None if value is None else value * 100


board = pd.DataFrame(
    [
        {
            **({"prompt": c["prompt_name"]} if several else {}),
            "model": c["model"] + marker(c),
            "temperature": c["temperature"],
            "answers": c["n"],
            "accuracy %": pct(c["accuracy"]),
            "95% interval": "–".join(f"{v * 100:.1f}" for v in c["accuracy_ci95"])
            if c["accuracy_ci95"][0] is not None
            else "",
            "macro-F1": c["macro_f1"],
            **({"consistency %": pct(c["consistency"])} if run.repeats > 1 else {}),
            "unparsed": c["unparsed"],
            "errors": c["errors"],
            "cost per 1k": format_usd(c["cost_per_1k_usd"]),
            "p50 latency ms": c["latency_p50_ms"],
        }
        for c in cells
    ]
)
st.subheader("Leaderboard")
st.dataframe(
    board,
    hide_index=True,
    column_config={
        "accuracy %": st.column_config.NumberColumn(format="%.1f"),
        "consistency %": st.column_config.NumberColumn(format="%.1f"),
        "macro-F1": st.column_config.NumberColumn(format="%.3f"),
        "temperature": st.column_config.NumberColumn(format="%g"),
        "p50 latency ms": st.column_config.NumberColumn(format="%.0f"),
    },
)
st.caption(
    "Accuracy counts unparsed answers as wrong; the interval is a 95% Wilson interval. Cost per 1k is what "
    "1,000 items cost at this run's billed usage (unknown when a model's price is not in the catalog)."
)

# --- charts ------------------------------------------------------------------------------------------
HEIGHT = 420  # the whole chart, title and axes included: tall enough for the long axis titles
left, right = st.columns([3, 2])
left.altair_chart(charts.cost_vs_accuracy(report), height=HEIGHT, key="cmp_cost")
right.altair_chart(charts.latency_distribution(frame), height=HEIGHT, key="cmp_latency")
left, right = st.columns(2)
if len(json.loads(run.temperatures_json)) > 1:
    left.altair_chart(charts.accuracy_vs_temperature(report), height=HEIGHT, key="cmp_acc")
else:
    left.info("Accuracy by temperature needs a run with 2 or more temperatures: set them on the Sweep page.")
if run.repeats > 1 and len(json.loads(run.temperatures_json)) > 1:
    right.altair_chart(charts.consistency_vs_temperature(report), height=HEIGHT, key="cmp_consistency")
else:
    right.info(
        "Consistency by temperature needs a run with 2 or more repeats and temperatures: set them on the Sweep page."
    )

# --- one cell: confusion matrix and drill-down --------------------------------------------------------
st.subheader("Confusion matrix")
names = [metrics.cell_name(c, several) for c in cells]
default = next((i for i, c in enumerate(cells) if same(c, rec)), 0)
chosen = st.selectbox("Cell", range(len(cells)), index=default, format_func=names.__getitem__, key=f"cmp_cell_{run_id}")
cell = cells[chosen]
left, right = st.columns([3, 2])
left.altair_chart(charts.confusion_heatmap(cell), key="cmp_confusion")
with right:
    per_class = pd.DataFrame(
        [{"label": label, **scores} for label, scores in cell["per_class"].items()],
        columns=["label", "precision", "recall", "f1", "support"],
    )
    st.markdown("**Per label**")
    st.dataframe(
        per_class,
        hide_index=True,
        column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")},
    )
    conf = cell["confusion"]
    squares = [
        (gold, predicted, conf["matrix"][i][j])
        for i, gold in enumerate(conf["labels"])
        for j, predicted in enumerate(conf["columns"])
        if conf["matrix"][i][j]
    ]
    squares.sort(key=lambda s: (s[0] == s[1], -s[2]))  # mistakes first, biggest first
    square = st.selectbox(
        "Show the samples of",
        squares,
        format_func=lambda s: f"gold {s[0]} → answered {s[1]} ({s[2]:,})",
        key=f"cmp_square_{run_id}_{chosen}",
    )


def expand_variables(table: pd.DataFrame) -> pd.DataFrame:
    """The sample's variables as columns (they are stored as one JSON object per row)."""
    if "variables" not in table.columns or table.empty:
        return table
    values = pd.DataFrame([json.loads(v) if v else {} for v in table["variables"]], index=table.index)
    return pd.concat([table.drop(columns=["variables"]), values], axis=1)


if square is not None:
    picked = metrics.samples_for(frame, cell, gold=square[0], predicted=square[1])
    capped_table(
        expand_variables(picked),
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
hard = metrics.hard_set(frame)
if not hard:
    st.caption("Every answered sample got the same label from every cell and repeat.")
else:
    table = expand_variables(metrics.disagreements(frame))
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
    tests = pd.DataFrame(
        [
            {
                "A": metrics.cell_name(p["a"], several),
                "B": metrics.cell_name(p["b"], several),
                "paired answers": p["n"],
                "A right, B wrong": p["a_only_correct"],
                "B right, A wrong": p["b_only_correct"],
                "A − B accuracy (points)": pct(p["diff"]),
                "95% interval": "–".join(f"{v * 100:+.1f}" for v in p["diff_ci95"])
                if p["diff_ci95"][0] is not None
                else "",
                "McNemar p": p["mcnemar_p"],
            }
            for p in pairs
        ]
    )
    capped_table(
        tests,
        what="pairs",
        cap=100,
        column_config={
            "A − B accuracy (points)": st.column_config.NumberColumn(format="%+.1f"),
            "McNemar p": st.column_config.NumberColumn(format="%.3g"),
        },
    )
    st.caption(
        "Exact McNemar test on the items both cells answered; p < 0.05 means the difference is unlikely to be chance."
    )

# --- downloads ------------------------------------------------------------------------------------------
a, b = st.columns(2)
a.download_button(
    "Download leaderboard (CSV)", csv_bytes(board), file_name=f"run-{run.id}-leaderboard.csv", mime="text/csv"
)
b.download_button(
    "Download every answer (CSV)",
    csv_bytes(metrics.per_sample(frame)),
    file_name=f"run-{run.id}-answers.csv",
    mime="text/csv",
)
