"""Settings, read once from the environment (or a mapping such as ``st.secrets``).

The API key is held in a :class:`Secret` whose ``repr``/``str`` never show it. Nothing reads the
environment at import time; callers build ``Settings.from_env()`` and pass it down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.errors import InputError
from workbench.redaction import register

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_DATABASE_URL = "sqlite:///workbench.db"


def hosted_database_url(env: Mapping[str, str] | None = None) -> str:
    """Where a hosted instance keeps its SQLite file when ``WORKBENCH_DATABASE_URL`` is not set.

    Hosted mode never writes into the checkout, so not ``./workbench.db``: the user data folder,
    ``$WORKBENCH_DATA_DIR``, else ``$XDG_DATA_HOME/prompt-workbench``, else
    ``~/.local/share/prompt-workbench``; the file is ``workbench.db`` there.
    """
    env = os.environ if env is None else env
    folder = env.get("WORKBENCH_DATA_DIR") or ""
    if not folder:
        base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
        folder = str(Path(base) / "prompt-workbench")
    return f"sqlite:///{Path(folder).expanduser().absolute() / 'workbench.db'}"


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or None
        register(self._value)  # redact() takes it out of every message, whatever its shape

    def get(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret(set)" if self._value else "Secret(unset)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    api_key: Secret = field(default_factory=lambda: Secret(None))
    base_url: str = DEFAULT_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    catalog_path: str | None = None
    prompts_dir: Path = Path("prompts")
    timeout: float = 60.0
    max_attempts: int = 8
    concurrency: int = 16
    # Flex processing (workbench/delivery.py): OpenAI suggests a 15-minute timeout per call; a 429
    # resource_unavailable is retried after flex_backoff seconds, doubling each time.
    flex_timeout: float = 900.0
    flex_backoff: float = 30.0
    batch_poll: float = 30.0  # seconds between looks at a run's Batch API batches
    # The local model (requirements-local.txt): another GGUF file to serve with llama.cpp, an
    # OpenAI-compatible server already running on this network (Ollama, vLLM, llama.cpp), and the
    # names of the models to send there. See workbench/local/.
    local_gguf: Path | None = None
    local_base_url: str | None = None
    local_models: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            api_key=Secret(env.get("OPENAI_API_KEY")),
            base_url=(env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            database_url=env.get("WORKBENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
            catalog_path=env.get("WORKBENCH_CATALOG") or None,
            prompts_dir=Path(env.get("WORKBENCH_PROMPTS_DIR") or "prompts"),
            timeout=_number(env, "WORKBENCH_TIMEOUT", 60.0, float),
            max_attempts=int(_number(env, "WORKBENCH_MAX_ATTEMPTS", 8, int)),
            flex_timeout=_number(env, "WORKBENCH_FLEX_TIMEOUT", 900.0, float),
            flex_backoff=_number(env, "WORKBENCH_FLEX_BACKOFF", 30.0, float),
            batch_poll=_number(env, "WORKBENCH_BATCH_POLL", 30.0, float),
            local_gguf=Path(env["WORKBENCH_LOCAL_GGUF"]).expanduser() if env.get("WORKBENCH_LOCAL_GGUF") else None,
            local_base_url=(env.get("WORKBENCH_LOCAL_BASE_URL") or "").rstrip("/") or None,
            local_models=tuple(m.strip() for m in (env.get("WORKBENCH_LOCAL_MODELS") or "").split(",") if m.strip()),
        )
        return replace(settings, **overrides) if overrides else settings  # type: ignore[arg-type]

    @property
    def remote_configured(self) -> bool:
        """Whether a remote model server is set up: a key, or a base URL other than OpenAI's (a
        server such as Ollama or vLLM needs no key). Without one, the local model is the default."""
        return bool(self.api_key) or self.base_url.rstrip("/") != DEFAULT_BASE_URL

    def with_key(self, key: str | None) -> Settings:
        return replace(self, api_key=Secret(key))

    def to_env(self) -> dict[str, str]:
        """The environment variables that :meth:`from_env` reads back as these settings (for a worker
        process: :mod:`workbench.worker`). Holds the key: give it only to a child's environment."""
        env = {
            "OPENAI_BASE_URL": self.base_url,
            "WORKBENCH_DATABASE_URL": self.database_url,
            "WORKBENCH_PROMPTS_DIR": str(self.prompts_dir),
            "WORKBENCH_TIMEOUT": repr(self.timeout),
            "WORKBENCH_MAX_ATTEMPTS": str(self.max_attempts),
            "WORKBENCH_FLEX_TIMEOUT": repr(self.flex_timeout),
            "WORKBENCH_FLEX_BACKOFF": repr(self.flex_backoff),
            "WORKBENCH_BATCH_POLL": repr(self.batch_poll),
            "WORKBENCH_LOCAL_MODELS": ",".join(self.local_models),
        }
        optional = {
            "OPENAI_API_KEY": self.api_key.get(),
            "WORKBENCH_CATALOG": self.catalog_path,
            "WORKBENCH_LOCAL_GGUF": str(self.local_gguf) if self.local_gguf else None,
            "WORKBENCH_LOCAL_BASE_URL": self.local_base_url,
        }
        env.update({name: value for name, value in optional.items() if value})
        return env


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    """A positive number from the environment; a typo is a one-line error, not a traceback."""
    text = env.get(name)
    if not text:
        return kind(default)
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"{name} must be a {'whole ' if kind is int else ''}number, got {text!r}") from None
    if not value > 0:
        raise InputError(f"{name} must be more than 0, got {text!r}")
    return value
