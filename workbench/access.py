"""Who may do what on a shared instance: sign-in, the allow-list, roles, hosted mode, which key pays.

Decisions that live here:

- **Auth is on when secrets configure it.** Streamlit's ``st.login`` reads an ``[auth]`` section
  (``redirect_uri``, ``cookie_secret`` and a provider's ``client_id``, ``client_secret``,
  ``server_metadata_url``, either directly in ``[auth]`` or in named ``[auth.NAME]`` sections).
  An ``[auth]`` section that is present but incomplete is an error, never "no auth": a typo
  must not open a shared instance to everyone as admin.
- **Allow-list, closed by default.** With auth on, only listed people get in. Entries are
  e-mails (``alice@example.com``), domains (``@example.com``) or ``*`` (anyone who signs in).
  An e-mail entry beats a domain entry, which beats ``*``; within one level the most privileged
  role wins. Matching is case-insensitive. Lists come from ``[workbench.access]`` in secrets and
  from ``WORKBENCH_ADMINS`` / ``WORKBENCH_MEMBERS`` / ``WORKBENCH_VIEWERS`` (comma-separated);
  both sources are merged.
- **Local mode.** Without auth (a laptop) there is no identity: everyone is an admin, shown as
  "local", and what they make is recorded with ``created_by = None``.
- **Hosted mode** (auth on, or ``WORKBENCH_HOSTED=1``): the repository checkout is not written and
  local file paths are not shown; callers read :attr:`AccessPolicy.hosted`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.config import Secret, Settings
from workbench.errors import InputError

ROLES = ("admin", "member", "viewer")  # most privileged first
ACTIONS = ("view", "run", "edit", "delete_any", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "member": frozenset({"view", "run", "edit"}),
    "viewer": frozenset({"view"}),
}
LOCAL_USER = "local"
ANYONE = "*"
ENV_LISTS = {"admin": "WORKBENCH_ADMINS", "member": "WORKBENCH_MEMBERS", "viewer": "WORKBENCH_VIEWERS"}
SECRET_LISTS = {"admin": "admins", "member": "members", "viewer": "viewers"}
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


def can(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action``: view, run (sweeps, try-it), edit (own prompts and samples),
    delete_any, admin (budgets, price table). ``None`` (not allowed in) may do nothing."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return role is not None and action in PERMISSIONS.get(role, frozenset())


def normalize_email(email: str | None) -> str | None:
    """Trimmed, lower-case e-mail, or None when it is not one."""
    if not email or not isinstance(email, str):
        return None
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    return email if at and local and domain and " " not in email else None


@dataclass(frozen=True)
class User:
    """The person behind this session, as far as the workbench cares."""

    email: str | None  # normalised; None in local mode or when signed out
    role: str | None  # None: not allowed in
    local: bool = False

    @property
    def id(self) -> str | None:
        """What ``created_by`` records: the e-mail, or None in local mode."""
        return None if self.local else self.email

    @property
    def label(self) -> str:
        return LOCAL_USER if self.local else (self.email or "signed out")

    @property
    def allowed(self) -> bool:
        return self.role is not None

    def can(self, action: str) -> bool:
        return can(self.role, action)

    def may_change(self, owner: str | None) -> bool:
        """Whether this user may edit or delete something ``owner`` made: admins anything, members their own."""
        if self.can("delete_any"):
            return True
        return self.can("edit") and owner is not None and owner == self.id


@dataclass(frozen=True)
class AccessPolicy:
    """Sign-in, allow-list and hosted mode for one instance (built once from secrets and environment)."""

    auth_enabled: bool = False
    hosted: bool = False
    providers: tuple[str, ...] = ()  # "default" for credentials directly in [auth], else the [auth.NAME] names
    admins: frozenset[str] = frozenset()  # entries: e-mails, "@domain", "*"
    members: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()

    @classmethod
    def from_config(
        cls, secrets: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> AccessPolicy:
        """The policy from ``secrets`` (``st.secrets.to_dict()`` or :func:`load_secrets_file`) and ``env``."""
        secrets = secrets or {}
        env = os.environ if env is None else env
        providers = auth_providers(secrets)
        auth = bool(providers)
        hosted_flag = _flag(_setting("WORKBENCH_HOSTED", secrets, env), "WORKBENCH_HOSTED")
        if hosted_flag is None:
            hosted_flag = _flag(_section(secrets, "workbench").get("hosted"), "[workbench] hosted")
        section = _section(_section(secrets, "workbench"), "access", "[workbench.access]")
        lists: dict[str, frozenset[str]] = {}
        for role in ROLES:
            entries = _entries(section.get(SECRET_LISTS[role]), f"[workbench.access] {SECRET_LISTS[role]}")
            entries |= _entries(_setting(ENV_LISTS[role], secrets, env), ENV_LISTS[role])
            lists[SECRET_LISTS[role]] = frozenset(entries)
        return cls(auth_enabled=auth, hosted=auth or bool(hosted_flag), providers=providers, **lists)

    @property
    def local(self) -> bool:
        return not self.auth_enabled

    @property
    def login_provider(self) -> str | None:
        """The argument for ``st.login``: None for credentials directly in ``[auth]``, else the first name."""
        if not self.providers or self.providers[0] == "default":
            return None
        return self.providers[0]

    def entries(self, role: str) -> frozenset[str]:
        """The allow-list entries that give ``role``."""
        return getattr(self, SECRET_LISTS[role])

    @property
    def has_allow_list(self) -> bool:
        return any(self.entries(role) for role in ROLES)

    def role_for(self, email: str | None) -> str | None:
        """admin, member, viewer, or None (not allowed). Everyone is admin in local mode."""
        if self.local:
            return "admin"
        address = normalize_email(email)
        if address is None:
            return None
        domain = "@" + address.rpartition("@")[2]
        for key in (address, domain, ANYONE):
            for role in ROLES:
                if key in self.entries(role):
                    return role
        return None

    def user(self, email: str | None, email_verified: bool | None = None) -> User:
        """This session's user from ``st.user`` (``email`` and, when the provider sends it, ``email_verified``).

        A provider that says the address is not verified gets no role: anyone can type any address
        into some identity providers.
        """
        if self.local:
            return User(None, "admin", local=True)
        address = normalize_email(email)
        role = None if email_verified is False else self.role_for(address)
        return User(address, role)

    def can(self, role: str | None, action: str) -> bool:
        return can(role, action)


def auth_providers(secrets: Mapping[str, Any]) -> tuple[str, ...]:
    """The sign-in providers ``[auth]`` configures; () when there is no ``[auth]`` section.

    Raises :class:`InputError` when ``[auth]`` is present but Streamlit could not sign anyone in with it.
    """
    auth = secrets.get("auth")
    if auth is None:
        return ()
    if not isinstance(auth, Mapping):
        raise InputError("secrets.toml: [auth] must be a section (see .streamlit/secrets.toml.example)")
    missing = [key for key in ("redirect_uri", "cookie_secret") if not auth.get(key)]
    providers: list[str] = []
    if any(auth.get(key) for key in PROVIDER_KEYS):
        lacking = [key for key in PROVIDER_KEYS if not auth.get(key)]
        if lacking:
            missing += lacking
        providers.append("default")
    for name, section in auth.items():
        if isinstance(section, Mapping) and name != "client_kwargs":
            lacking = [key for key in PROVIDER_KEYS if not section.get(key)]
            if lacking:
                missing += [f"auth.{name}.{key}" for key in lacking]
            if "_" in name:
                raise InputError(f"secrets.toml: provider name [auth.{name}] may not contain '_' (Streamlit's rule)")
            providers.append(str(name))
    if not providers:
        missing += [f"a provider ({', '.join(PROVIDER_KEYS)})"]
    if missing:
        raise InputError(
            f"secrets.toml: [auth] is incomplete, missing {', '.join(missing)}; sign-in stays off only when "
            "there is no [auth] section at all (see .streamlit/secrets.toml.example)"
        )
    return tuple(providers)


def load_secrets_file(paths: Iterable[str | Path] | None = None) -> dict[str, Any]:
    """``secrets.toml`` the way Streamlit finds it (``~/.streamlit`` then ``./.streamlit``, the latter winning),
    for code that runs outside Streamlit (the CLI). Missing files are no secrets."""
    if paths is None:
        paths = [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]
    merged: dict[str, Any] = {}
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: broken TOML ({exc})") from None
        merged = _deep_merge(merged, data)
    return merged


# --- which key pays --------------------------------------------------------------------------


def key_kind(server_key: Secret | str | None, session_key: str | None = None) -> str:
    """Which key pays a run: "user" when the session brings its own, "server" when the server's key
    (from secrets or environment) is used, "none" when there is no key at all."""
    if session_key:
        return "user"
    value = server_key.get() if isinstance(server_key, Secret) else server_key
    return "server" if value else "none"


def paying_settings(settings: Settings, session_key: str | None = None) -> tuple[Settings, str]:
    """The settings to call with and the key kind to record: a session's own key replaces the server's.

    The session key lives only in the returned (frozen) settings' :class:`~workbench.config.Secret`;
    it is never stored.
    """
    kind = key_kind(settings.api_key, session_key)
    return (replace(settings, api_key=Secret(session_key)) if kind == "user" else settings), kind


# --- helpers ---------------------------------------------------------------------------------


def _section(data: Mapping[str, Any], name: str, where: str | None = None) -> Mapping[str, Any]:
    value = data.get(name) if isinstance(data, Mapping) else None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        if where is None:
            return {}
        raise InputError(f"secrets.toml: {where} must be a section")
    return value


def _setting(name: str, secrets: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """An environment variable, else the same name at the top of secrets.toml."""
    value = env.get(name)
    if value not in (None, ""):
        return value
    return secrets.get(name)


def _flag(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise InputError(f"{where}: expected true or false, got {value!r}")


def _entries(value: Any, where: str) -> set[str]:
    """Allow-list entries from a TOML list or a comma-separated string, normalised and checked."""
    if value is None:
        return set()
    items: list[Any] | tuple[Any, ...]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise InputError(f"{where}: expected a list of e-mails or @domains, got {type(value).__name__}")
    entries = set()
    for item in items:
        text = str(item).strip().lower()
        if not text:
            continue
        if not (text == ANYONE or _is_domain(text) or normalize_email(text) is not None):
            raise InputError(f"{where}: {item!r} is neither an e-mail, an @domain nor *")
        entries.add(text)
    return entries


def _is_domain(text: str) -> bool:
    return text.startswith("@") and len(text) > 1 and "@" not in text[1:] and " " not in text


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged
