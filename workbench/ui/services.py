"""Settings, who is signed in, and the cached services every page shares.

One :class:`~workbench.service.Workbench` (engine, catalog, provider) and one
:class:`~workbench.jobs.JobManager` per server process, built on first use with
``st.cache_resource`` and keyed by the settings, so a changed database URL gets its own engine.
The example prompts in ``prompts/`` are imported into the database when the services are built.

Decisions that live here:

- **Who is this?** :func:`access_policy` reads sign-in and the allow-list from secrets and the
  environment (:mod:`workbench.access`); :func:`current_user` maps ``st.user`` onto it. With sign-in
  configured, a session without ``st.user.is_logged_in`` is signed out (closed by default). A
  secrets file that exists but cannot be read is an error, never "no sign-in".
- **Which key pays.** A key typed into the sidebar lives only in this browser session's
  ``st.session_state``; when there is one it pays for this session's calls, even when the server
  has a key (:func:`workbench.access.paying_settings`), and runs record ``key_kind``. It is never
  written to the database, a file or a log.
- **The team's price table** (set on the Admin page, stored in the database) is laid over the
  catalog of the shared workbench: it is re-read on every rerun, so a change applies at once in
  every session and every server process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import streamlit as st

from workbench import budgets
from workbench.access import AccessPolicy, User, paying_settings
from workbench.config import Settings, hosted_database_url
from workbench.errors import InputError, WorkbenchError
from workbench.jobs import JobManager
from workbench.library import seed_examples
from workbench.local import runnable
from workbench.pricing import Catalog
from workbench.runs import Actor
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
    "WORKBENCH_LOCAL_GGUF",
    "WORKBENCH_LOCAL_BASE_URL",
    "WORKBENCH_LOCAL_MODELS",
)
SESSION_KEY = "_workbench_session_api_key"  # st.session_state only; never stored or logged
SESSION_WB = "_workbench_session_wb"
SIGNED_OUT = User(None, None)


@dataclass
class Shared:
    """What one server process shares between sessions for one set of settings."""

    wb: Workbench
    jobs: JobManager
    base_catalog: Catalog  # the catalog file(s), before the team's price table
    prices: str | None = None  # the team price table now laid over ``wb.catalog``
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Context:
    """What a page needs: settings, the shared services, this session's workbench and who is using it."""

    settings: Settings
    wb: Workbench
    jobs: JobManager
    session_wb: Workbench  # carries the session-only key when one was given, else ``wb``
    key_kind: str  # "server", "user" or "none": which key pays for this session's calls
    policy: AccessPolicy
    user: User  # who is signed in (the local admin without sign-in)
    budget_defaults: budgets.Budgets  # from secrets/environment, before the admin's overrides
    base_catalog: Catalog  # the catalog file(s), before the team's price table

    @property
    def engine(self):
        return self.wb.engine

    @property
    def hosted(self) -> bool:
        """Hosted mode: the checkout is not written and local paths are not shown."""
        return self.policy.hosted

    @property
    def signed_in(self) -> bool:
        """Whether people are told apart (sign-in is on): "mine" filters and "by" columns make sense."""
        return self.policy.auth_enabled

    def can(self, action: str) -> bool:
        return self.user.can(action)

    def caps(self) -> budgets.Budgets:
        """The budgets in force: the defaults with the admin's overrides."""
        return budgets.effective(self.engine, self.budget_defaults)

    def actor(self) -> Actor:
        """Who asks the core's use cases (:mod:`workbench.runs`): this user, the key that pays, the caps now."""
        return Actor(self.user, self.key_kind, self.caps())


# --- secrets, sign-in ------------------------------------------------------------------------


def secrets() -> dict[str, Any]:
    """Everything in ``.streamlit/secrets.toml`` (``{}`` when there is no file).

    Raises :class:`InputError` when a secrets file exists but cannot be read: it may hold the
    ``[auth]`` section, and a typo must not open a shared instance to everyone.
    """
    if st.secrets.load_if_toml_exists():
        return st.secrets.to_dict()
    from streamlit import config

    try:
        paths = [Path(p) for p in config.get_option("secrets.files") or []]
    except Exception:  # an unknown option in an old Streamlit: nothing more to check
        paths = []
    if any(p.exists() for p in paths):
        raise InputError(
            "secrets.toml could not be read (broken TOML?); it may hold the sign-in settings, so nothing is "
            "shown until it is fixed"
        )
    return {}


def access_policy() -> AccessPolicy:
    """Sign-in, allow-list and hosted mode from secrets and the environment."""
    return AccessPolicy.from_config(secrets(), os.environ)


def signed_in() -> bool:
    """Whether ``st.user`` says this browser session has signed in."""
    return bool(_user_info().get("is_logged_in"))


def current_user(policy: AccessPolicy) -> User:
    """This session's user: the local admin without sign-in, :data:`SIGNED_OUT` before signing in."""
    if policy.local:
        return policy.user(None)
    info = _user_info()
    if not info.get("is_logged_in"):
        return SIGNED_OUT
    return policy.user(info.get("email"), _verified(info.get("email_verified")))


def email_unverified() -> bool:
    """The identity provider said the address is not verified."""
    return _verified(_user_info().get("email_verified")) is False


def _user_info() -> Mapping[str, Any]:
    try:
        return st.user.to_dict()
    except Exception:  # no script run context (a bare script): nobody is signed in
        return {}


def _verified(value: Any) -> bool | None:
    """``email_verified`` as a bool; some providers send it as the text "true"/"false"."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "0", "no")


# --- settings and services -------------------------------------------------------------------


def _top_level(all_secrets: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in all_secrets.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def load_settings(all_secrets: Mapping[str, Any] | None = None, hosted: bool = False) -> Settings:
    """Environment first; ``st.secrets`` fills in what the environment does not set.

    ``hosted`` without a database URL: the SQLite file lives in the user data folder
    (:func:`~workbench.config.hosted_database_url`), never in the checkout."""
    if all_secrets is None:
        try:
            all_secrets = secrets()
        except WorkbenchError as exc:  # sign-in reports it; settings go on without the file
            log.warning("ignoring .streamlit/secrets.toml: %s", type(exc).__name__)
            all_secrets = {}
    env = {k: v for k, v in os.environ.items() if k in SETTING_NAMES and v}
    for name, value in _top_level(all_secrets).items():
        if name in SETTING_NAMES and name not in env and value:
            env[name] = value
    settings = Settings.from_env(env)
    if hosted and not env.get("WORKBENCH_DATABASE_URL"):
        settings = replace(settings, database_url=hosted_database_url())
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
        str(settings.local_gguf),
        str(settings.local_base_url),
        ",".join(settings.local_models),
        _digest(settings.api_key.get()),
    )
    return "|".join(parts)


@st.cache_resource(show_spinner="Opening the database…")
def _services(key: str, _settings: Settings) -> Shared:
    """Built once per ``key`` (see :func:`fingerprint`); ``_settings`` is not hashed by Streamlit."""
    wb = Workbench.open(_settings)
    seeded = seed_examples(wb, _settings.prompts_dir)
    log.info("example library: %d prompt(s) available", len(seeded))
    return Shared(wb, JobManager(wb), wb.catalog)


def _apply_prices(shared: Shared) -> None:
    """Lay the team's price table (when it changed) over the shared workbench's catalog."""
    text = budgets.price_overrides(shared.wb.engine)
    if text == shared.prices:
        return
    with shared.lock:
        if text == shared.prices:
            return
        try:
            shared.wb.catalog = budgets.catalog_with_overrides(shared.wb.engine, shared.base_catalog)
        except WorkbenchError as exc:  # validated when saved; if it broke since, price with the files only
            log.warning("team price table ignored: %s", exc)
            shared.wb.catalog = shared.base_catalog
        shared.prices = text


def session_key() -> str | None:
    return st.session_state.get(SESSION_KEY) or None


def set_session_key(key: str | None) -> None:
    if key:
        st.session_state[SESSION_KEY] = key
    else:
        st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(SESSION_WB, None)


def context(policy: AccessPolicy | None = None, user: User | None = None) -> Context:
    """The services for this rerun (built once per process and settings) and who is using them."""
    all_secrets = secrets()
    if policy is None:
        policy = AccessPolicy.from_config(all_secrets, os.environ)
    if user is None:
        user = current_user(policy)
    settings = load_settings(all_secrets, hosted=policy.hosted)
    shared = _services(fingerprint(settings), settings)
    _apply_prices(shared)
    wb = shared.wb
    paying, kind = paying_settings(settings, session_key())
    if kind == "user":
        digest = _digest(paying.api_key.get())
        cached = st.session_state.get(SESSION_WB)
        stale = cached is None or cached[0] != digest or cached[1].engine is not wb.engine
        if stale or cached[1].catalog is not wb.catalog:
            session_wb = Workbench(paying, wb.engine, wb.catalog)
            st.session_state[SESSION_WB] = (digest, session_wb)
        else:
            session_wb = cached[1]
    else:
        session_wb = wb
    defaults = budgets.Budgets.from_config(all_secrets, os.environ)
    return Context(settings, wb, shared.jobs, session_wb, kind, policy, user, defaults, shared.base_catalog)


@st.cache_data(ttl=60, show_spinner=False)
def _server_models(base_url: str, key_digest: str, _settings: Settings) -> tuple[list[str], str | None]:
    from workbench.providers import OpenAIProvider

    try:
        return OpenAIProvider(replace(_settings, timeout=3.0)).list_models(), None
    except WorkbenchError as exc:
        return [], str(exc)


def server_models(ctx: Context) -> tuple[list[str], str | None]:
    """Models the server offers (``/v1/models``), cached for a minute; an error is a message.

    Not asked when no server is set up (no key and OpenAI's URL): OpenAI would only say 401.
    """
    settings = ctx.session_wb.settings
    if not settings.remote_configured:
        return [], None
    return _server_models(settings.base_url, _digest(settings.api_key.get()), settings)


def default_models(ctx: Context) -> list[str]:
    """What a sweep starts with: the catalog's default pair with a server set up, else the local model (or nothing)."""
    if ctx.session_wb.settings.remote_configured:
        return ctx.wb.catalog.default_pair()
    return runnable(ctx.wb.local)[:1]


def model_choices(ctx: Context) -> list[str]:
    """The defaults first, then what the server offers, then the rest of the price catalog."""
    offered, _ = server_models(ctx)
    return list(
        dict.fromkeys([*default_models(ctx), *ctx.wb.catalog.default_pair(), *offered, *sorted(ctx.wb.catalog.models)])
    )


def local_status(ctx: Context) -> list[tuple[str, str]]:
    """Each local model with a line on its state: running, ready to start, or what it needs."""
    running = {server.alias: server for server in ctx.wb.servers.running()}
    lines = []
    for name, model in ctx.wb.local.items():
        problem = model.problem()
        if problem and ctx.hosted and model.gguf is not None and str(model.gguf) in problem:
            lines.append((name, "its model file is missing on this server"))  # hosted: no local paths
        elif problem:
            lines.append((name, problem))
        elif not model.managed:
            lines.append((name, "answered by WORKBENCH_LOCAL_BASE_URL"))
        elif name in running:
            lines.append((name, "llama.cpp running on this machine"))
        else:
            lines.append((name, "installed; llama.cpp starts on first use"))
    return lines
