"""Settings and the cached services every page shares.

One :class:`~workbench.service.Workbench` (engine, catalog, provider) and one
:class:`~workbench.jobs.JobManager` per server process, built on first use with
``st.cache_resource`` and keyed by the settings, so a changed database URL gets its own engine.
The example prompts in ``prompts/`` are imported into the database when the services are built.

A key typed into the sidebar lives only in this browser session's ``st.session_state``: it is
used for this session's calls and never written to the database, a file or a log.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st

from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.jobs import JobManager
from workbench.library import seed_examples
from workbench.service import Workbench

log = logging.getLogger("workbench.ui")

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "WORKBENCH_DATABASE_URL",
    "WORKBENCH_CATALOG",
    "WORKBENCH_PROMPTS_DIR",
    "WORKBENCH_TIMEOUT",
    "WORKBENCH_MAX_ATTEMPTS",
)
SESSION_KEY = "_workbench_session_api_key"  # st.session_state only; never stored or logged
DEFAULT_MODELS = ("gpt-4.1-nano", "gpt-4.1-mini")


@dataclass(frozen=True)
class Context:
    """What a page needs: settings, the shared workbench and job manager, this session's workbench."""

    settings: Settings
    wb: Workbench
    jobs: JobManager
    session_wb: Workbench  # carries the session-only key when one was given, else ``wb``
    key_kind: str  # "server", "user" or "none": which key pays for this session's calls

    @property
    def engine(self):
        return self.wb.engine


def _secrets() -> dict[str, str]:
    """Top-level string settings from ``.streamlit/secrets.toml`` (none when there is no file)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return {}
        return {k: str(v) for k, v in st.secrets.to_dict().items() if isinstance(v, (str, int, float))}
    except Exception as exc:  # a broken secrets file must not take the app down; say so in the log
        log.warning("ignoring .streamlit/secrets.toml: %s", type(exc).__name__)
        return {}


def load_settings() -> Settings:
    """Environment first; ``st.secrets`` fills in what the environment does not set."""
    env = {k: v for k, v in os.environ.items() if k in SETTING_NAMES and v}
    for name, value in _secrets().items():
        if name in SETTING_NAMES and name not in env and value:
            env[name] = value
    settings = Settings.from_env(env)
    prompts_dir = settings.prompts_dir
    if not prompts_dir.is_absolute() and not prompts_dir.is_dir() and (ROOT / prompts_dir).is_dir():
        settings = replace(settings, prompts_dir=ROOT / prompts_dir)
    return settings


def _digest(secret: str | None) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16] if secret else "-"


def fingerprint(settings: Settings) -> str:
    """A cache key for settings; the key enters it only as a short hash."""
    parts = (
        settings.database_url,
        settings.base_url,
        str(settings.catalog_path),
        str(settings.prompts_dir),
        str(settings.timeout),
        str(settings.max_attempts),
        _digest(settings.api_key.get()),
    )
    return "|".join(parts)


@st.cache_resource(show_spinner="Opening the database…")
def _services(key: str, _settings: Settings) -> tuple[Workbench, JobManager]:
    """Built once per ``key`` (see :func:`fingerprint`); ``_settings`` is not hashed by Streamlit."""
    wb = Workbench.open(_settings)
    seeded = seed_examples(wb, _settings.prompts_dir)
    log.info("example library: %d prompt(s) available", len(seeded))
    return wb, JobManager(wb)


def session_key() -> str | None:
    return st.session_state.get(SESSION_KEY) or None


def set_session_key(key: str | None) -> None:
    if key:
        st.session_state[SESSION_KEY] = key
    else:
        st.session_state.pop(SESSION_KEY, None)
        st.session_state.pop("_workbench_session_wb", None)


def context() -> Context:
    """The services for this rerun (built once per process and settings)."""
    settings = load_settings()
    wb, jobs = _services(fingerprint(settings), settings)
    user_key = None if settings.api_key else session_key()
    if user_key:
        cached = st.session_state.get("_workbench_session_wb")
        if cached is None or cached[0] != _digest(user_key) or cached[1].engine is not wb.engine:
            session_wb = Workbench(settings.with_key(user_key), wb.engine, wb.catalog)
            st.session_state["_workbench_session_wb"] = (_digest(user_key), session_wb)
        else:
            session_wb = cached[1]
        kind = "user"
    else:
        session_wb = wb
        kind = "server" if settings.api_key else "none"
    return Context(settings, wb, jobs, session_wb, kind)


@st.cache_data(ttl=60, show_spinner=False)
def _server_models(base_url: str, key_digest: str, _settings: Settings) -> tuple[list[str], str | None]:
    from workbench.providers import OpenAIProvider

    try:
        return OpenAIProvider(replace(_settings, timeout=3.0)).list_models(), None
    except WorkbenchError as exc:
        return [], str(exc)


def server_models(ctx: Context) -> tuple[list[str], str | None]:
    """Models the server offers (``/v1/models``), cached for a minute; an error is a message."""
    settings = ctx.session_wb.settings
    return _server_models(settings.base_url, _digest(settings.api_key.get()), settings)


def model_choices(ctx: Context) -> list[str]:
    """The defaults first, then what the server offers, then the rest of the price catalog."""
    offered, _ = server_models(ctx)
    return list(dict.fromkeys([*DEFAULT_MODELS, *offered, *sorted(ctx.wb.catalog.models)]))
