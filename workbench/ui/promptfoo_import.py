"""Importing a promptfoo config on the Export page: upload it and the files it names, see what translates, store it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from workbench.errors import InputError, WorkbenchError
from workbench.promptfoo import ImportedConfig, ImportFailed, parse_config, sweep_grids
from workbench.storage import repository as repo
from workbench.ui import chrome
from workbench.ui.services import Context
from workbench.ui.widgets import plain, shown_errors

UPLOAD_TYPES = ["csv", "txt", "json", "jsonl", "yaml", "yml", "md"]
MAX_UPLOAD_MB = 20  # the server's limit too (server.maxUploadSize)


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
        except ImportFailed as exc:  # keeps what would not translate
            raise ImportFailed(_uploaded(str(exc), folder), exc.untranslated) from None
        except WorkbenchError as exc:  # name the uploads, not the temporary folder
            raise InputError(_uploaded(str(exc), folder)) from None


def _uploaded(message: str, folder: Path) -> str:
    return message.replace(f"{folder}/", "").replace(str(folder), "the upload")


def _not_translated(lines: list[str]) -> None:
    st.warning("Not translated:\n" + "\n".join(f"- {plain(line)}" for line in lines), icon=":material/warning:")


def importer(ctx: Context) -> None:
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
            try:
                imported = read_upload(config, extras, labels_text)
            except ImportFailed as exc:
                st.error(plain(exc), icon=":material/error:")
                _not_translated(exc.untranslated)
                return
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
    grids = sweep_grids(imported.planned)
    st.markdown(
        f"**Models:** {plain(', '.join(imported.models) or 'none')} · **temperatures:** "
        f"{plain(temperatures or 'none')} · **repeats:** {imported.repeats} · **cells:** {len(imported.planned)}"
        + ("" if len(grids) <= 1 else f" (not one grid: {len(grids)} sweeps run exactly these cells)")
    )
    if len(grids) > 1:
        st.markdown(
            "\n".join(
                f"- sweep {k}: {plain(', '.join(prompts))} × {plain(', '.join(models))} @ "
                f"{plain(', '.join('default' if t is None else f'{t:g}' for t in temps))}"
                for k, (prompts, models, temps) in enumerate(grids, 1)
            )
        )
    if imported.untranslated:
        _not_translated(imported.untranslated)
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
