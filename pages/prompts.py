"""Prompts: draft and edit a prompt, check it against a sample set, try it on one item, save versions."""

from __future__ import annotations

import streamlit as st

from workbench.ui import chrome, prompt_editor, prompt_versions, try_it

ctx = chrome.page()
st.title("Prompts")
st.caption(
    "A prompt is chat messages with {{variables}} filled from each sample's columns, and the labels the "
    "answer must name. Every saved change is a new version; sweeps record exactly which one they ran."
)

prompt_editor.choose_source(ctx)
edit, check = st.columns([5, 4], gap="large")
with edit:
    messages, prompt = prompt_editor.editor(ctx)
with check:
    samples = prompt_editor.checks(ctx, messages, prompt)
if prompt is None:
    st.stop()

try_tab, save_tab, versions_tab = st.tabs(["Try it", "Save", "Versions and diff"])
with try_tab:
    try_it.try_it(ctx, prompt, messages, samples)
with save_tab:
    prompt_versions.save(ctx, prompt)
with versions_tab:
    prompt_versions.versions(ctx, prompt)
