"""The Export page's parts: the chosen cell's figures, and the prompt version as a file for the library."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from workbench import formatting as fmt
from workbench import prompts as library
from workbench.promptfile import NAME_PATTERN, PromptFile
from workbench.ui.services import Context
from workbench.ui.widgets import file_output, plain


def cell_figures(cell: dict[str, Any]) -> None:
    """Accuracy, its interval, samples × repeats, cost per 1,000 and latency of the cell to ship, as metrics."""
    p50 = cell["latency_p50_ms"]
    figures = {
        "Accuracy": fmt.percent(cell["accuracy"]),
        "95% interval": fmt.interval(cell["accuracy_ci95"]),
        "Samples × repeats": f"{cell['samples']:,} × {cell['repeats']}",
        "Cost per 1,000 items": fmt.money(cell["cost_per_1k_usd"]),
        "p50 latency": "unknown" if p50 is None else f"{p50:,.0f} ms",
    }
    with st.container(horizontal=True, gap="large"):  # each figure as wide as its text; wraps in a narrow window
        for label, value in figures.items():
            st.metric(label, value, width="content")


def library_section(ctx: Context, prompt: PromptFile) -> None:
    """Write the prompt version into prompts/ (locally) or download it, to load with ``workbench.prompts.load``."""
    st.subheader("Prompt library")
    writes = ctx.can("edit") and not ctx.hosted
    st.caption(
        ("Write this prompt version into the prompts/ folder" if writes else "Download this prompt version as a file")
        + ' to commit with your code; application code loads it with `workbench.prompts.load("NAME")`.'
    )
    save_name = st.text_input(
        "Name (without .yaml)", value=prompt.name, key=f"export_save_name_{prompt.content_hash[:12]}"
    )
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
