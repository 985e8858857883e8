"""Prompt workbench: ``streamlit run app.py``.

Declares the pages (one file per screen in ``pages/``), then draws the shared chrome
(:mod:`workbench.ui.chrome`) and runs the chosen page. To add a screen, add one line to ``PAGES``.
"""

from __future__ import annotations

import streamlit as st

from workbench.ui import chrome
from workbench.ui.widgets import shown_errors

st.set_page_config(page_title="Prompt workbench", page_icon=":material/balance:", layout="wide")

# section -> (file, title, icon); the first page is the start page (served at "/"), the others at
# "/<file name>".
PAGES: dict[str, list[tuple[str, str, str]]] = {
    "": [("pages/home.py", "Home", ":material/home:")],
    "Build": [
        ("pages/prompts.py", "Prompts", ":material/edit_note:"),
        ("pages/samples.py", "Samples", ":material/table_rows:"),
    ],
    "Evaluate": [
        ("pages/sweep.py", "Sweep", ":material/play_circle:"),
        ("pages/compare.py", "Compare", ":material/leaderboard:"),
        ("pages/runs.py", "Runs", ":material/history:"),
    ],
    "Ship": [("pages/export.py", "Export", ":material/download:")],
    "Team": [("pages/admin.py", "Admin", ":material/admin_panel_settings:")],  # admins only (chrome.ADMIN_PAGES)
}

# Hidden until someone allowed is signed in; the sign-in gate itself is at the top of chrome.frame().
page = chrome.navigation(PAGES)
ctx = None
with shown_errors():
    ctx = chrome.frame(sweeps=False)
if ctx is None:
    st.info("Fix the setting above (environment or .streamlit/secrets.toml) and reload the page.")
else:
    with chrome.sweeps_after(ctx):  # the sidebar's running sweeps, drawn after the page: it may start one
        page.run()
