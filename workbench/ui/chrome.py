"""What every page shows around its content: the sign-in gate, the account and connection sidebar,
and the running sweeps.

``app.py`` builds its navigation with :func:`navigation` and calls :func:`frame` once per rerun,
before the page runs; every page starts with :func:`page`. This is the one place for anything
every page needs, and where the sign-in gate lives (the top of :func:`frame`).

Why pages call :func:`page`: because the screens live in ``pages/``, Streamlit's legacy
multipage mode runs ``pages/NAME.py`` *directly*, without ``app.py``, for the first request a
fresh server process gets on ``/NAME`` (and on every ``AppTest`` run after ``switch_page``).
:func:`page` notices that ``app.py`` did not frame this run, switches the process to
``st.navigation`` and runs ``app.py`` instead, so every URL goes through :func:`frame` and its
gate: a page's own code never runs for someone who is not signed in and allowed.

Signed out, the navigation is hidden (every page stays routable, so ``/compare`` reaches the
gate rather than a "page not found"): the visitor sees the product's name and a sign-in button,
nothing else. Admin-only pages are left out of the navigation for everyone else.
"""

from __future__ import annotations

import runpy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import make_url

from workbench import redaction
from workbench.access import AccessPolicy, User
from workbench.errors import WorkbenchError
from workbench.local import INSTALL_COMMAND, INSTALL_TIME, runnable
from workbench.storage import redact_url
from workbench.ui import activity, progress, services
from workbench.ui.services import Context
from workbench.ui.widgets import plain

PRODUCT = "Prompt workbench"
KEY_FIELD = "_workbench_key_field"
WATCHING = "_workbench_watching"  # the sidebar polls: a sweep was running at its last look
FRESH = "_workbench_activity"  # what this rerun of the whole page read from the database
FRAMED = "_workbench_framed"  # set by frame(), consumed by page(): "app.py ran in this rerun"
ADMIN_PAGES = frozenset({"pages/admin.py"})  # in the navigation only for admins
ROLE_NOTES = {
    "admin": "admin: everything, budgets and the price table",
    "member": "member: run sweeps, edit your own prompts and samples",
    "viewer": "viewer: read only",
}


# --- navigation and the gate -------------------------------------------------------------------


def _visitor() -> User | None:
    """Who is asking, or None when the sign-in settings are broken (:func:`frame` shows why)."""
    try:
        return services.current_user(services.access_policy())
    except WorkbenchError:
        return None


def navigation(pages: Mapping[str, Sequence[tuple[str, str, str]]]):
    """``st.navigation`` over ``{section: [(file, title, icon), ...]}``: hidden until someone allowed is
    signed in; pages in :data:`ADMIN_PAGES` only for admins. Returns the page to run."""
    user = _visitor()
    allowed = user is not None and user.allowed
    admin = allowed and user.can("admin")
    sections = {}
    for section, entries in pages.items():
        listed = [
            st.Page(path, title=title, icon=icon) for path, title, icon in entries if admin or path not in ADMIN_PAGES
        ]
        if listed:
            sections[section] = listed
    return st.navigation(sections, position="sidebar" if allowed else "hidden")


def gate(policy: AccessPolicy, user: User) -> None:
    """Stop the run, after a sign-in screen or a refusal, unless this session may use the workbench."""
    if policy.local or user.allowed:
        return
    st.title(PRODUCT)
    if not services.signed_in():
        st.caption("Sign in to continue.")
        if st.button("Sign in", type="primary", icon=":material/login:", key="_workbench_sign_in"):
            st.login(policy.login_provider)
        st.stop()
    if user.email is None:
        reason = "Your sign-in did not include an e-mail address, so this workbench cannot tell who you are."
    elif services.email_unverified():
        reason = f"Your identity provider says {user.email} is not verified."
    else:
        reason = f"{user.email} is not on this workbench's list of people who may use it."
    st.error(plain(f"{reason} Ask an admin of this workbench to add you, or sign in with another account."))
    st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="_workbench_sign_out")
    st.stop()


def frame(sweeps: bool = True) -> Context:
    """The gate, then the services and the sidebar; returns the context the page will use.

    ``app.py`` passes ``sweeps=False`` and draws the running sweeps (the sidebar's last part) with
    :func:`sweeps_after` once the page has run, so a sweep the page has just started shows at once."""
    policy = services.access_policy()
    user = services.current_user(policy)
    gate(policy, user)
    ctx = services.context(policy, user)
    with st.sidebar:
        account(ctx)
        connection(ctx)
        if sweeps:
            running_sweeps(ctx)
    st.session_state[FRAMED] = True
    return ctx


@contextmanager
def sweeps_after(ctx: Context) -> Iterator[None]:
    """Run the page inside this, then draw the sidebar's running sweeps, also when the page stopped
    early (``st.stop``) or asked for a rerun."""
    try:
        yield
    finally:
        with st.sidebar:
            running_sweeps(ctx)


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
        # framed (or not at all, when the gate stops it). Then stop, so this unframed run draws nothing.
        PagesManager.uses_pages_directory = False
        runpy.run_path(run_ctx.main_script_path, run_name="__main__")
        st.stop()
    # Run as a script of its own (``streamlit run pages/x.py``): draw the frame (and its gate) here.
    ctx = frame()
    st.session_state.pop(FRAMED, None)
    return ctx


def hosted() -> bool:
    """Hosted mode (sign-in on, or ``WORKBENCH_HOSTED``): write nothing into the checkout, show no local
    paths; offer files as downloads instead. True when the settings cannot be read (fail closed)."""
    try:
        return services.access_policy().hosted
    except WorkbenchError:
        return True


def read_only(ctx: Context, what: str) -> None:
    """The caption a page shows instead of controls this user's role does not allow."""
    st.caption(plain(f"Your role is {ctx.user.role}: you can look, but not {what}. Ask an admin if you need more."))


# --- the sidebar -------------------------------------------------------------------------------


def account(ctx: Context) -> None:
    if ctx.policy.local:
        st.caption("Local mode: no sign-in, you are the admin.")
        return
    st.caption("Signed in as")
    st.text(ctx.user.label)  # text, not markdown: an address would become a mailto: link
    st.caption(plain(ROLE_NOTES.get(ctx.user.role or "", ctx.user.role or "")))
    st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="_workbench_sidebar_sign_out")


def database_label(url: str, hosted: bool) -> str:
    """Where the data lives, for the sidebar: the URL without its password; hosted, no directories or hosts."""
    if not hosted:
        return redact_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        return "database"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        name = Path(parsed.database).name if parsed.database and parsed.database != ":memory:" else ""
        return f"SQLite database {name}".strip()
    names = {"postgresql": "PostgreSQL", "mysql": "MySQL"}
    return f"{names.get(backend, backend)} database {parsed.database or ''}".strip()


def _take_key() -> None:
    """Move a typed key into session state and clear the field, so it is never sent back to the page."""
    typed = (st.session_state.get(KEY_FIELD) or "").strip()
    st.session_state[KEY_FIELD] = ""
    if typed:
        services.set_session_key(typed)


def _key_form() -> None:
    with st.form("_key_form", border=False):
        st.text_input(
            "Your API key for this session",
            type="password",
            key=KEY_FIELD,
            help="Kept in this browser session's memory only: never stored, logged or shown.",
        )
        st.form_submit_button("Use key", on_click=_take_key, key="_workbench_use_key")


def connection(ctx: Context) -> None:
    settings = ctx.settings
    st.markdown("**Connection**")
    st.caption("Model server")
    st.text(redaction.redact_url(settings.base_url))
    if ctx.key_kind == "user":
        st.caption("API key: your own, set for this browser session only (not stored)")
        if st.button("Forget my key", key="_forget_key"):
            services.set_session_key(None)
            st.rerun()
    elif ctx.key_kind == "server":
        st.caption("API key: set on the server")
        if ctx.can("run"):
            with st.expander("Use my own key instead"):
                _key_form()
    else:
        st.caption("API key: not set")
        if ctx.can("run"):
            _key_form()
    offered, problem = services.server_models(ctx)
    if problem:
        st.caption(f"Models: could not list them ({plain(problem)})")
    elif offered:
        more = f" and {len(offered) - 12} more" if len(offered) > 12 else ""
        st.caption(f"Models offered: {plain(', '.join(offered[:12]))}{more}")
    for name, state in services.local_status(ctx):
        st.caption(plain(f"Local model {name}: {state}"))
    st.caption("Database")
    st.text(database_label(settings.database_url, ctx.hosted))


def running_sweeps(ctx: Context) -> None:
    """The running sweeps, live while there are any: the fragment polls only then (every
    :data:`activity.POLL_S`, from one read shared by all sessions), and stops by rerunning the page
    once the last one ends, so an idle tab costs the server nothing. A page drawn because someone
    navigated or clicked reads the database afresh."""
    now = activity.current(ctx, fresh=True)
    st.session_state[WATCHING] = now.watching
    st.session_state[FRESH] = now
    st.fragment(_running_sweeps, run_every=activity.POLL_S if now.watching else None)(ctx)


def _running_sweeps(ctx: Context) -> None:
    now = st.session_state.pop(FRESH, None) or activity.current(ctx)  # a poll: the shared read
    if st.session_state.get(WATCHING) and not now.watching:
        st.session_state[WATCHING] = False
        st.rerun(scope="app")  # the sweep ended: redraw the page (its figures changed) and stop polling
    st.markdown("**Running sweeps**")
    if not now.running:
        st.caption("None right now.")
    for run, _ in now.running:
        progress.show(ctx, run, key="sidebar", compact=True)
    if now.interrupted:
        st.caption(f"{now.interrupted} interrupted run(s) can be resumed on the Runs page.")


def model_notice(ctx: Context) -> None:
    """Say which model the workbench will use when no server is set up, or how to get one."""
    if ctx.session_wb.settings.remote_configured:
        return
    local = runnable(ctx.wb.local)
    if local:
        st.info(
            f"No OpenAI API key is set, so the workbench uses the free local model **{local[0]}** "
            "(llama.cpp on this machine, no key, no charge). To compare OpenAI's models, set OPENAI_API_KEY "
            "on the server or enter your own key in the sidebar.",
            icon=":material/computer:",
        )
        return
    st.warning(
        "No model to call yet. Either set **OPENAI_API_KEY** on the server (or enter your own key in the "
        "sidebar; OPENAI_BASE_URL for another OpenAI-compatible server such as Ollama or vLLM), or install the "
        f"free local model with `{INSTALL_COMMAND}` ({INSTALL_TIME}) and restart the app. "
        "Prompts, samples and cost estimates work without either.",
        icon=":material/key_off:",
    )
