"""Export: ship a run's winner as code (Python, TypeScript, cURL, JSON, promptfoo, pytest) or a prompt file,
and import a promptfoo config as prompts and samples."""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench import export, formatting, metrics
from workbench.errors import InputError
from workbench.export.spec import header_lines
from workbench.storage import repository as repo
from workbench.ui import chrome, promptfoo_import, run_notes
from workbench.ui import export_view as view
from workbench.ui.results import run_report
from workbench.ui.widgets import plain, run_picker, shown_errors
from workbench.winner import spec_for_cell, winner

FORMAT_NAMES = {
    "python": "Python",
    "typescript": "TypeScript",
    "curl": "cURL",
    "json": "JSON",
    "promptfoo": "promptfoo YAML",
    "pytest": "pytest test",
}
LANGUAGE = {"python": "python", "typescript": "typescript", "curl": "bash", "json": "json", "promptfoo": "yaml"}
MIME = {"json": "application/json", "promptfoo": "application/yaml", "typescript": "text/plain"}
CODE_CAP = 200_000  # characters shown on the page; the download always holds everything

ctx = chrome.page()
st.title("Export")
st.caption(
    "Ship the cell you chose: the exact messages, model, temperature and parameters that were measured, as "
    "code to paste or commit. Keys are never written into an export: the code reads OPENAI_API_KEY and "
    "OPENAI_BASE_URL from the environment."
)


runs = repo.list_runs(ctx.engine)
if runs.empty:
    st.info(
        "No runs yet. Export takes a cell of a finished sweep (prompt version × model × temperature): run a "
        "sweep first, then come back to ship the winner."
    )
    st.page_link("pages/sweep.py", label="Go to Sweep", icon=":material/play_circle:")
    with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
        promptfoo_import.importer(ctx)
    st.stop()

# --- which run: ?run=ID, else the latest ----------------------------------------------------------------
left, right = st.columns(2)
run_id = run_picker(runs, "export_run", where=left)

report = None
with shown_errors():
    _, _, report = run_report(ctx.engine, run_id, 0.02)
cells: list[dict[str, Any]] = report["cells"] if report else []
answered = [c for c in cells if c["accuracy"] is not None]
if not answered:
    if report is not None:
        run_notes.no_answers(repo.get_run(ctx.engine, run_id), "to export")
    with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
        promptfoo_import.importer(ctx)
    st.stop()
best = winner(answered)
several = len({c["prompt_version_id"] for c in cells}) > 1


def cell_key(cell: dict[str, Any]) -> tuple:
    return (cell["prompt_version_id"], cell["model"], cell["temperature"])


def cell_label(cell: dict[str, Any]) -> str:
    return metrics.cell_name(cell, several) + (" ★ winner" if cell_key(cell) == cell_key(best) else "")


chosen = right.selectbox(
    "Cell",
    range(len(answered)),
    index=next(i for i, c in enumerate(answered) if cell_key(c) == cell_key(best)),
    format_func=lambda i: cell_label(answered[i]),
    key=f"export_cell_{run_id}",
    help="The winner (★) has the highest accuracy; ties go to the lower cost, then the lower temperature.",
)
cell = answered[chosen]
view.cell_figures(cell)

spec = samples = None
with shown_errors():
    spec, samples = spec_for_cell(ctx.wb, run_id, cell)
if spec is None:
    st.stop()

# --- format and code ------------------------------------------------------------------------------------
st.subheader("Code")
fmt = st.radio("Format", export.FORMATS, format_func=FORMAT_NAMES.get, horizontal=True, key="export_format")
margin = 0.05
fill = None
chosen_cells = [cell]
if fmt == "pytest":
    margin = (
        st.number_input(
            "Margin (accuracy points below the measured accuracy)",
            min_value=0.0,
            max_value=100.0,
            value=5.0,
            step=1.0,
            key="export_margin",
            help="The test fails when accuracy on the embedded samples drops below the measured accuracy minus this.",
        )
        / 100
    )
elif fmt == "promptfoo":
    same_prompt = [c for c in answered if c["prompt_version_id"] == cell["prompt_version_id"]]
    picked = st.multiselect(
        "Cells to include (providers)",
        range(len(same_prompt)),
        default=[i for i, c in enumerate(same_prompt) if cell_key(c) == cell_key(cell)],
        format_func=lambda i: cell_label(same_prompt[i]),
        key=f"export_pf_cells_{run_id}_{chosen}",
        help="Each cell becomes one openai:chat provider, so promptfoo compares them as the sweep did.",
    )
    chosen_cells = [same_prompt[i] for i in picked]
elif (
    fmt in ("curl", "json")
    and spec.prompt.variables
    and samples is not None
    and len(samples)
    and st.checkbox("Fill in the variables from the first sample", key="export_fill")
):
    fill = dict(samples.samples[0].variables)

code = None
with shown_errors():
    if fmt == "promptfoo" and [cell_key(c) for c in chosen_cells] != [cell_key(cell)]:
        if not chosen_cells:
            raise InputError("choose at least one cell to include")
        keep = [line for line in header_lines(spec) if not line.startswith(("Model:", "Measured accuracy", "Cost per"))]
        figures = [
            f"{metrics.cell_name(c, several)}: accuracy {formatting.percent(c['accuracy'])} "
            f"({formatting.sample_size(c['samples'], c['repeats'])}), cost per 1,000 items "
            f"{formatting.money(c['cost_per_1k_usd'])}"
            for c in chosen_cells
        ]
        code = export.render_promptfoo(
            spec.prompt,
            [(c["model"], c["temperature"], c.get("reasoning_effort")) for c in chosen_cells],
            samples,
            header=[*keep[:-1], *figures, keep[-1]],
            lookup=ctx.wb.catalog.lookup,
        )
    else:
        code = export.render(spec, fmt, samples=samples, margin=margin, values=fill)
if code is None:
    st.stop()

name = export.filename(spec, fmt)
st.download_button(
    f"Download {name}",
    code.encode("utf-8"),
    file_name=name,
    mime=MIME.get(fmt, "text/x-python" if fmt in ("python", "pytest") else "text/plain"),
    icon=":material/download:",
    on_click="ignore",
    key="export_download",
)
shown = code if len(code) <= CODE_CAP else code[:CODE_CAP]
st.code(
    shown, language=LANGUAGE.get(fmt, "python"), line_numbers=True, height=560 if shown.count("\n") > 30 else "content"
)
if shown is not code:
    st.caption(f"Showing the first {CODE_CAP:,} of {len(code):,} characters; the download holds all of it.")
if fmt == "python" and len(spec.prompt.variables) == 1:
    st.caption(f"Run it: `python {name} < inputs.txt` reads one input per line and prints one label per line.")
elif fmt == "python":
    st.caption(
        f"Run it: `python {name} < inputs.jsonl` reads one JSON object per line (keys: "
        f"{plain(', '.join(spec.prompt.variables))}) and prints one label per line; or import it and call "
        "`classify(**variables)`."
    )

# --- prompt library ------------------------------------------------------------------------------------
view.library_section(ctx, spec.prompt)

with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
    promptfoo_import.importer(ctx)
