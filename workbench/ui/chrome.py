"""What every page shows around its content: the connection sidebar and the running sweeps.

``app.py`` calls :func:`frame` once per rerun, after ``st.navigation`` and before the page runs,
so this is the one place for anything every page needs (a sign-in gate goes at the top of
:func:`frame`: it then covers every URL, because every page is reached through the navigation).
"""

from __future__ import annotations

import streamlit as st

from workbench.storage import redact_url
from workbench.storage import repository as repo
from workbench.ui import progress, services
from workbench.ui.services import Context

KEY_FIELD = "_workbench_key_field"


def frame() -> Context:
    """Build the services and draw the sidebar; returns the context the page will use."""
    ctx = services.context()
    with st.sidebar:
        connection(ctx)
        running_sweeps(ctx)
    return ctx


def _take_key() -> None:
    """Move a typed key into session state and clear the field, so it is never sent back to the page."""
    typed = (st.session_state.get(KEY_FIELD) or "").strip()
    st.session_state[KEY_FIELD] = ""
    if typed:
        services.set_session_key(typed)


def connection(ctx: Context) -> None:
    settings = ctx.settings
    st.markdown("**Connection**")
    st.caption("Model server")
    st.text(settings.base_url)
    if ctx.key_kind == "server":
        st.caption("API key: set on the server")
    elif ctx.key_kind == "user":
        st.caption("API key: set for this browser session only (not stored)")
        if st.button("Forget my key", key="_forget_key"):
            services.set_session_key(None)
            st.rerun()
    else:
        st.caption("API key: not set")
        with st.form("_key_form", clear_on_submit=False, border=False):
            st.text_input(
                "Your API key for this session",
                type="password",
                key=KEY_FIELD,
                help="Kept in this browser session's memory only: never stored, logged or shown.",
            )
            st.form_submit_button("Use key", on_click=_take_key)
    offered, problem = services.server_models(ctx)
    if problem:
        st.caption(f"Models: could not list them ({problem})")
    elif offered:
        st.caption(f"Models offered: {', '.join(offered[:12])}" + (f" and {len(offered) - 12} more" if len(offered) > 12 else ""))
    st.caption("Database")
    st.text(redact_url(settings.database_url))


@st.fragment(run_every=2)
def running_sweeps(ctx: Context) -> None:
    st.markdown("**Running sweeps**")
    runs = repo.runs_with_status(ctx.engine, ["running"])
    if not runs:
        st.caption("None right now.")
    for run in runs:
        progress.show(ctx, run, key="sidebar", compact=True)
    interrupted = repo.runs_with_status(ctx.engine, ["interrupted"])
    if interrupted:
        st.caption(f"{len(interrupted)} interrupted run(s) can be resumed on the Runs page.")
