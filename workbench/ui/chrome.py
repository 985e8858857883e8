"""What every page shows around its content: the connection sidebar and the running sweeps.

``app.py`` calls :func:`frame` once per rerun, after ``st.navigation`` and before the page runs;
every page starts with :func:`page`. This is the one place for anything every page needs: a
sign-in gate goes at the top of :func:`frame`.

Why pages call :func:`page`: because the screens live in ``pages/``, Streamlit's legacy
multipage mode runs ``pages/NAME.py`` *directly*, without ``app.py``, for the first request a
fresh server process gets on ``/NAME`` (and on every ``AppTest`` run after ``switch_page``).
:func:`page` notices that ``app.py`` did not frame this run, switches the process to
``st.navigation`` and runs ``app.py`` instead, so every URL goes through :func:`frame` (and any
gate in it).
"""

from __future__ import annotations

import runpy

import streamlit as st

from workbench.storage import redact_url
from workbench.storage import repository as repo
from workbench.ui import progress, services
from workbench.ui.services import Context
from workbench.ui.widgets import plain

KEY_FIELD = "_workbench_key_field"
FRAMED = "_workbench_framed"  # set by frame(), consumed by page(): "app.py ran in this rerun"


def frame() -> Context:
    """Build the services and draw the sidebar; returns the context the page will use."""
    ctx = services.context()
    with st.sidebar:
        connection(ctx)
        running_sweeps(ctx)
    st.session_state[FRAMED] = True
    return ctx


def page() -> Context:
    """The first call of every page (``ctx = chrome.page()``): the context, after the frame ran."""
    if st.session_state.pop(FRAMED, False):
        return services.context()
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    run_ctx = get_script_run_ctx()
    if PagesManager.uses_pages_directory and run_ctx is not None:
        # Reached without app.py (legacy pages/ mode). Turn that mode off for this process, as
        # st.navigation itself does, and run app.py now, in this same run (a rerun would drop the
        # click that caused it): its navigation resolves this URL to this page, which then runs
        # framed. Then stop, so this unframed run draws nothing.
        PagesManager.uses_pages_directory = False
        runpy.run_path(run_ctx.main_script_path, run_name="__main__")
        st.stop()
    # Run as a script of its own (``streamlit run pages/x.py``): draw the frame here.
    ctx = frame()
    st.session_state.pop(FRAMED, None)
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
        with st.form("_key_form", border=False):
            st.text_input(
                "Your API key for this session",
                type="password",
                key=KEY_FIELD,
                help="Kept in this browser session's memory only: never stored, logged or shown.",
            )
            st.form_submit_button("Use key", on_click=_take_key, key="_workbench_use_key")
    offered, problem = services.server_models(ctx)
    if problem:
        st.caption(f"Models: could not list them ({plain(problem)})")
    elif offered:
        more = f" and {len(offered) - 12} more" if len(offered) > 12 else ""
        st.caption(f"Models offered: {plain(', '.join(offered[:12]))}{more}")
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
