"""Compare's detail sections, drawn on demand: confusion matrix, disagreements, paired tests, cascade.

The top of Compare (the verdict, the leaderboard and the charts) is what everyone opening a run
needs; these sections are for digging in. Drawing them all at every load cost more than the rest
of the page together — the cascade's three charts and tables were most of the server's script time,
and six tables with nine charts most of the browser's — so the page shows the ones a user picks
(:data:`SECTIONS`, several at once if wanted) and remembers the choice for the session.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench import charts, metrics
from workbench.storage import repository as repo
from workbench.storage.models import Run
from workbench.ui import cascade
from workbench.ui import compare_view as view
from workbench.ui.results import RunView, draw
from workbench.ui.services import Context
from workbench.ui.widgets import capped_table, plain, shown_errors

CONFUSION, DISAGREEMENTS, PAIRS, CASCADE = "Confusion matrix", "Where the answers disagree", "Paired tests", "Cascade"
SECTIONS = [CONFUSION, DISAGREEMENTS, PAIRS, CASCADE]
PICKED = "cmp_sections"  # the session's choice; the same for every run it opens
DISAGREEMENT_CAP = 200
SAMPLE_CAP = 200


def picked() -> list[str]:
    """The sections the user chose to see (none at first: the page opens fast)."""
    chosen = st.pills(
        "More on this run",
        SECTIONS,
        selection_mode="multi",
        key=PICKED,
        help="Each opens below; pick several to see them together.",
    )
    return [s for s in SECTIONS if s in (chosen or [])]


def draw_sections(ctx: Context, run: Run, results: RunView, tolerance: float, chosen: list[str]) -> None:
    """The chosen sections, in the page's order."""
    cells = results.report["cells"]
    several = len({c["prompt_version_id"] for c in cells}) > 1
    if CONFUSION in chosen:
        confusion(results, int(run.id or 0), several)
    if DISAGREEMENTS in chosen:
        disagreements(ctx, run, results)
    if PAIRS in chosen:
        paired(results.report, several)
    if CASCADE in chosen:
        cascade.section(ctx.wb, int(run.id or 0), results, tolerance)


def confusion(results: RunView, run_id: int, several: bool) -> None:
    """One cell's confusion matrix and per-label scores; the samples of a square on request."""
    cells, rec = results.report["cells"], results.report["recommendation"]
    st.subheader("Confusion matrix")
    names = [metrics.cell_name(c, several) for c in cells]
    default = next((i for i, c in enumerate(cells) if view.same_cell(c, rec)), 0)
    chosen = st.selectbox(
        "Cell", range(len(cells)), index=default, format_func=names.__getitem__, key=f"cmp_cell_{run_id}"
    )
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
        picked_rows = metrics.samples_for(results.frame, cell, gold=square[0], predicted=square[1])
        capped_table(
            view.expand_variables(picked_rows),
            what="answers",
            cap=SAMPLE_CAP,
            column_config={
                "sample_index": st.column_config.NumberColumn("sample"),
                "cost_usd": st.column_config.NumberColumn("cost (USD)", format="%.6f"),
                "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.0f"),
            },
        )


def disagreements(ctx: Context, run: Run, results: RunView) -> None:
    """The samples where cells (or a cell's repeats) answered differently; saved as a hard set on request."""
    st.subheader("Where the answers disagree")
    frame = results.frame
    hard = results.memo("hard set", lambda: metrics.hard_set(frame))
    if not hard:
        st.caption("Every answered sample got the same label from every cell and repeat.")
        return
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


def paired(report: dict[str, Any], several: bool) -> None:
    """Exact McNemar tests between every two cells with the same labels."""
    st.subheader("Paired comparisons")
    pairs = report["pairs"]
    if not pairs:
        st.caption("Paired tests need two or more cells with the same labels.")
        return
    capped_table(view.paired_tests(pairs, several), what="pairs", cap=100)
    st.caption(
        "Exact McNemar test over the samples both cells answered (with repeats, a sample counts as right when most "
        "of its answers are); p < 0.05 means the difference is unlikely to be chance."
    )
