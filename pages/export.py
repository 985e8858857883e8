"""Export: ship a run's winner as code (Python, TypeScript, cURL, JSON, promptfoo, pytest) or a prompt file,
and import a promptfoo config as prompts and samples."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import streamlit as st

from workbench import export, metrics
from workbench import prompts as library
from workbench.errors import InputError, WorkbenchError
from workbench.export.spec import header_lines
from workbench.pricing import format_usd
from workbench.promptfile import NAME_PATTERN
from workbench.promptfoo import ImportedConfig, parse_config
from workbench.storage import repository as repo
from workbench.ui import chrome
from workbench.ui.results import run_report
from workbench.ui.widgets import file_output, plain, shown_errors
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
UPLOAD_TYPES = ["csv", "txt", "json", "jsonl", "yaml", "yml", "md"]
MAX_UPLOAD_MB = 20  # the server's limit too (server.maxUploadSize)

ctx = chrome.page()
st.title("Export")
st.caption(
    "Ship the cell you chose: the exact messages, model, temperature and parameters that were measured, as "
    "code to paste or commit. Keys are never written into an export: the code reads OPENAI_API_KEY and "
    "OPENAI_BASE_URL from the environment."
)


# --- import a promptfoo config ------------------------------------------------------------------------
def upload_name(name: str) -> str:
    """An uploaded file's own name, without any folder the browser sent."""
    base = Path(name.replace("\\", "/")).name
    if not base or base.startswith("."):
        raise InputError(f"uploaded file {name!r}: give it a plain name (not hidden, no folder)")
    return base


def read_upload(config, extras, labels_text: str) -> ImportedConfig:
    """Write the uploads into a temporary folder (so ``file://`` names resolve) and parse the config there.

    The importer reads only inside the config's folder (:func:`workbench.promptfoo.reading.referenced_file`),
    so an upload reads the uploaded files and nothing else of the server."""
    labels = [label.strip() for label in labels_text.split(",") if label.strip()] or None
    with tempfile.TemporaryDirectory(prefix="promptfoo-upload-") as tmp:
        folder = Path(tmp).resolve()
        config_path = folder / upload_name(config.name)
        config_path.write_bytes(config.getvalue())
        for extra in extras or []:
            name = upload_name(extra.name)
            if name == config_path.name:
                raise InputError(f"{name}: the extra files must not have the config's own name")
            (folder / name).write_bytes(extra.getvalue())
        try:
            return parse_config(config_path, labels)
        except WorkbenchError as exc:  # name the uploads, not the temporary folder
            raise InputError(str(exc).replace(f"{folder}/", "").replace(str(folder), "the upload")) from None


def importer() -> None:
    if not ctx.can("edit"):  # importing exists to store prompts and samples: viewers do not upload at all
        chrome.read_only(ctx, "import promptfoo configs")
        return
    st.caption(
        "Upload a promptfooconfig.yaml, plus the files it refers to with file:// (tests CSV, prompt files): "
        "they are read next to the config, by name. Prompts, OpenAI providers, tests and repeats translate; "
        "what does not is listed."
    )
    left, right = st.columns(2)
    config = left.file_uploader(
        "promptfooconfig.yaml", type=["yaml", "yml"], max_upload_size=MAX_UPLOAD_MB, key="ex_pf_config"
    )
    extras = right.file_uploader(
        "Files it refers to (optional)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        max_upload_size=MAX_UPLOAD_MB,
        key="ex_pf_files",
    )
    labels_text = st.text_input(
        "Labels (optional, comma-separated)",
        key="ex_pf_labels",
        help="Only needed when the labels cannot be read from the config (an equals assertion, a JSON-schema "
        "enum or the tests' label column).",
    )
    if config is None:
        st.session_state.pop("_ex_pf_parsed", None)
        return
    token = (config.file_id, tuple(extra.file_id for extra in extras or []), labels_text)
    parsed = st.session_state.get("_ex_pf_parsed")
    imported = parsed[1] if parsed and parsed[0] == token else None
    if imported is None:
        with shown_errors():
            imported = read_upload(config, extras, labels_text)
            st.session_state["_ex_pf_parsed"] = (token, imported)  # not parsed again on every rerun
    if imported is None:
        return
    st.markdown(f"**Prompts ({len(imported.prompts)})**")
    for prompt in imported.prompts:
        variables = ", ".join(prompt.variables) or "none"
        st.markdown(
            f"- **{plain(prompt.name)}** · labels {plain(', '.join(prompt.labels))} · variables {plain(variables)}"
        )
    with st.expander("The prompt files"):
        for prompt in imported.prompts:
            st.code(prompt.to_yaml(), language="yaml")
    if imported.samples is None:
        st.markdown("**Samples:** none (the config has no tests)")
    else:
        counts = ", ".join(f"{label} {n:,}" for label, n in imported.samples.label_counts().items())
        st.markdown(
            f"**Samples:** {len(imported.samples):,}, gold label in column **{plain(imported.label_column)}** "
            f"({plain(counts)})"
        )
    temperatures = ", ".join("default" if t is None else f"{t:g}" for t in imported.temperatures)
    st.markdown(
        f"**Models:** {plain(', '.join(imported.models) or 'none')} · **temperatures:** "
        f"{plain(temperatures or 'none')} · **repeats:** {imported.repeats}"
    )
    if imported.untranslated:
        st.warning(
            "Not translated:\n" + "\n".join(f"- {plain(line)}" for line in imported.untranslated),
            icon=":material/warning:",
        )
    else:
        st.caption("Everything in the config was translated.")
    what = f"{len(imported.prompts)} prompt(s)" + (" and the samples" if imported.samples is not None else "")
    if st.button(f"Store {what}", key="ex_pf_store", type="primary"):
        with shown_errors():
            ids = [
                repo.save_prompt_version(
                    ctx.engine, prompt, note=f"imported from {config.name}", created_by=ctx.user.id
                ).id
                for prompt in imported.prompts
            ]
            stored = None
            if imported.samples is not None:
                stored = repo.save_dataset(
                    ctx.engine, imported.samples, source=f"promptfoo: {config.name}", created_by=ctx.user.id
                )
            st.session_state["sweep_prompt_ids"] = ids  # the Sweep page preselects these versions
            where = f" and sample set “{plain(stored.name)}” (#{stored.id})" if stored else ""
            plan = f"models {', '.join(imported.models) or '(choose)'}, temperatures {temperatures or '(choose)'}"
            st.success(
                f"Stored {len(ids)} prompt version(s){where}. On the Sweep page, pick {plain(plan)} and "
                f"{imported.repeats} repeat(s) to run the same plan."
            )
            st.page_link("pages/sweep.py", label="Go to Sweep", icon=":material/play_circle:")


runs = repo.list_runs(ctx.engine)
if runs.empty:
    st.info(
        "No runs yet. Export takes a cell of a finished sweep (prompt version × model × temperature): run a "
        "sweep first, then come back to ship the winner."
    )
    st.page_link("pages/sweep.py", label="Go to Sweep", icon=":material/play_circle:")
    with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
        importer()
    st.stop()

# --- which run: ?run=ID, else the latest ----------------------------------------------------------------
options = {int(r.id): f"#{r.id} · {r.name} · {r.status} · {r.calls:,} calls" for r in runs.itertuples()}
param = st.query_params.get("run")
if param and param != st.session_state.get("_export_param"):
    st.session_state["_export_param"] = param
    if param.isdigit() and int(param) in options:
        st.session_state["export_run"] = int(param)
if st.session_state.get("export_run") not in options:
    st.session_state["export_run"] = next(iter(options))
left, right = st.columns(2)
run_id = left.selectbox("Run", list(options), format_func=options.get, key="export_run")
st.session_state["_export_param"] = str(run_id)
st.query_params["run"] = str(run_id)

report = None
with shown_errors():
    _, _, report = run_report(ctx.engine, run_id, 0.02)
cells: list[dict[str, Any]] = report["cells"] if report else []
answered = [c for c in cells if c["accuracy"] is not None]
if not answered:
    if report is not None:
        st.info("This run has no answers to export yet: pick another run, or follow its progress in the sidebar.")
    with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
        importer()
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
low, high = cell["accuracy_ci95"]
p50 = cell["latency_p50_ms"]
figures = {
    "Accuracy": f"{cell['accuracy'] * 100:.1f}%",
    "95% interval": f"{low * 100:.1f}–{high * 100:.1f}%" if low is not None else "none",
    "Answers (n)": f"{cell['n']:,}",
    "Cost per 1,000 items": format_usd(cell["cost_per_1k_usd"]),
    "p50 latency": "unknown" if p50 is None else f"{p50:,.0f} ms",
}
with st.container(horizontal=True, gap="large"):  # each figure as wide as its text; wraps in a narrow window
    for label, value in figures.items():
        st.metric(label, value, width="content")

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
            f"{metrics.cell_name(c)}: accuracy {c['accuracy'] * 100:.1f}% (n = {c['n']}), cost per 1,000 items "
            f"{format_usd(c['cost_per_1k_usd'])}"
            for c in chosen_cells
        ]
        code = export.render_promptfoo(
            spec.prompt,
            [(c["model"], c["temperature"]) for c in chosen_cells],
            samples,
            header=[*keep[:-1], *figures, keep[-1]],
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
st.subheader("Prompt library")
prompt = spec.prompt
writes = ctx.can("edit") and not ctx.hosted
st.caption(
    ("Write this prompt version into the prompts/ folder" if writes else "Download this prompt version as a file")
    + ' to commit with your code; application code loads it with `workbench.prompts.load("NAME")`.'
)
save_name = st.text_input("Name (without .yaml)", value=prompt.name, key=f"export_save_name_{prompt.content_hash[:12]}")
save_name = save_name.strip()
named = replace(prompt, name=save_name) if NAME_PATTERN.match(save_name) and save_name != prompt.name else prompt
write = None
if ctx.can("edit"):  # file_output offers it locally; hosted, it says why there is only the download
    write = lambda: library.save(prompt, save_name, ctx.settings.prompts_dir)  # noqa: E731
if writes:
    existing = ctx.settings.prompts_dir / f"{save_name}.yaml"
    confirm = f"Replace the existing prompts/{plain(save_name)}.yaml"
    if NAME_PATTERN.match(save_name) and existing.is_file() and not st.checkbox(confirm, key="export_overwrite"):
        write = None
file_output(
    named.to_yaml(),
    f"{named.name}.yaml",
    hosted=ctx.hosted,
    key="export_save",
    write=write,
    where="prompts/",
    mime="text/yaml",
    label="Download YAML",
)

with st.expander("Import a promptfoo config", icon=":material/upload_file:"):
    importer()
