"""Samples: upload labeled CSV/JSONL, check it, store it; browse stored sample sets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from workbench.datasets import file_columns, parse_samples
from workbench.errors import InputError
from workbench.label_check import label_warnings, looks_like_free_text
from workbench.library import guess_label_column
from workbench.storage import repository as repo
from workbench.ui import chrome, figures
from workbench.ui.widgets import capped_table, dataset_options, mine_only, plain, shown_errors, source_label

MAX_UPLOAD_MB = 20  # also the server's limit (server.maxUploadSize in .streamlit/config.toml)
UPLOAD_TYPES = ["csv", "tsv", "txt", "jsonl", "json"]
PREVIEW_ROWS = 200

ctx = chrome.page()
st.title("Samples")
st.caption(
    "Labeled examples to test prompts on: a CSV with a header row, or JSONL. One column holds the gold "
    "label; every other column can be used in a prompt as {{column}}."
)


def show_set(samples, key: str) -> None:
    for warning in label_warnings(samples):
        st.warning(plain(warning), icon=":material/warning:")
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**Preview** · {len(samples):,} samples, label column {plain(samples.label_column)}")
        capped_table(samples.to_frame(), what="samples", cap=PREVIEW_ROWS)
    with right:
        if looks_like_free_text(samples) is None:  # a chart of a hundred one-sample "labels" says nothing
            st.altair_chart(figures.label_distribution(samples.label_counts()), key=f"{key}_labels")


st.subheader("Upload")
with st.container():
    upload = None
    if not ctx.can("edit"):
        chrome.read_only(ctx, "upload sample sets")
    else:
        upload = st.file_uploader(
            "Sample file (CSV or JSONL)",
            type=UPLOAD_TYPES,
            max_upload_size=MAX_UPLOAD_MB,
            help=f"UTF-8 text ({', '.join('.' + t for t in UPLOAD_TYPES)}), at most {MAX_UPLOAD_MB} MB.",
        )
        if upload is None:
            st.caption(
                "Choose a file to check it before storing it. The example sets from prompts/ are already stored "
                "(below)."
            )
    if upload is not None:
        data = upload.getvalue()
        with shown_errors():
            if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
                raise InputError(f"{upload.name}: {len(data) / 1e6:.1f} MB is over the {MAX_UPLOAD_MB} MB limit")
            if Path(upload.name).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
                kinds = ", ".join("." + t for t in UPLOAD_TYPES)
                raise InputError(f"{upload.name}: only {kinds} files can be uploaded")
            columns = file_columns(data, upload.name)
            if not columns:
                raise InputError(f"{upload.name}: no columns found (is the file empty?)")
            guess = guess_label_column(columns) or columns[-1]
            label_column = st.selectbox("Label column (the gold answer)", columns, index=columns.index(guess))
            name = st.text_input("Name", value=Path(upload.name).stem)
            samples = parse_samples(data, upload.name, label_column)
            if name.strip():
                samples = replace(samples, name=name.strip())
            counted = (
                f"{len(samples):,} samples, {len(samples.label_counts())} labels; "
                f"variables: {plain(', '.join(samples.variable_names) or 'none')}"
            )
            (st.info if label_warnings(samples) else st.success)(counted)
            show_set(samples, "upload")
            if st.button("Store this sample set", type="primary", key="samples_store"):
                before = set(repo.list_datasets(ctx.engine)["id"])
                stored = repo.save_dataset(ctx.engine, samples, source=upload.name, created_by=ctx.user.id)
                if stored.id in before:
                    st.info(f"Already stored as “{plain(stored.name)}” (#{stored.id}): same content, same sample set.")
                else:
                    st.success(f"Stored as “{plain(stored.name)}” (#{stored.id}). Use it on the Prompts or Sweep page.")

st.subheader("Stored sample sets")
with st.container():
    frame = repo.list_datasets(ctx.engine)
    if frame.empty:
        st.info("No sample sets yet: upload one above." if ctx.can("edit") else "No sample sets yet.")
    else:
        if mine_only(ctx.signed_in, "samples_mine", "sample sets"):
            frame = frame[frame["created_by"] == ctx.user.id]
        frame = frame.assign(source=[source_label(v, ctx.hosted) for v in frame["source"]])
        columns = ["id", "name", "rows", "label_column", "source", "created_at"]
        columns += ["created_by"] if ctx.signed_in else []
        capped_table(
            frame[columns],
            what="sample sets",
            column_config={
                "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
                "created_by": st.column_config.TextColumn("by"),
            },
        )
        listed = set(frame["id"])
        options = {k: v for k, v in dataset_options(ctx.engine).items() if k in listed}
        chosen = st.selectbox("Look at", list(options), format_func=options.get, key="samples_stored_pick")
        if chosen is not None:
            row = frame[frame["id"] == chosen].iloc[0]
            owner = row["created_by"] if isinstance(row["created_by"], str) else None
            if ctx.user.may_change(owner):
                with st.popover("Rename", icon=":material/edit:"):
                    new_name = st.text_input("New name", value=str(row["name"]), key=f"samples_rename_{chosen}")
                    if st.button("Rename", key="samples_rename"):
                        with shown_errors():
                            if not new_name.strip():
                                raise InputError("a sample set needs a name")
                            repo.rename_dataset(ctx.engine, int(chosen), new_name.strip())
                            st.rerun()
            with shown_errors():
                show_set(repo.load_dataset(ctx.engine, chosen), "stored")
