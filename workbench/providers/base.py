"""What every provider offers (:class:`Provider`) and the normalised result of one chat completion.

:class:`Completion` is the edge: whatever a server sent (a hostile one included), a completion
that exists holds only what the database can store and the money code can price. Its fields are
checked when it is made, and a response that fails the checks is a malformed answer
(:class:`~workbench.errors.TransientError`, kind ``malformed``): retried, never stored.

- ``text``: a string; NUL bytes (PostgreSQL cannot store them) and lone surrogates (no encoding
  can) become U+FFFD, so the answer is kept as nearly as it was sent.
- ``finish_reason``: absent or a short string; ``response_model``: absent or a model name.
- token counts: absent or whole numbers from 0 to :data:`MAX_TOKENS` (``12.0`` is 12; NaN,
  Infinity, negatives, 10^30 and booleans are refused), and cached tokens at most the prompt's.
- ``latency_ms``: a finite number; ``logprobs_json``: absent or text.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from workbench.errors import TransientError

MAX_TOKENS = 100_000_000  # far above any model's context and output: more is a broken server
MAX_NAME = 200  # characters of a model name or finish reason worth storing


@dataclass(frozen=True)
class RateInfo:
    """What the server said about its rate limits (``x-ratelimit-*`` headers), when it said it."""

    remaining_requests: int | None = None
    limit_requests: int | None = None
    reset_requests_s: float | None = None


def malformed(what: str) -> TransientError:
    return TransientError(f"the server sent a malformed response ({what})", kind="malformed")


def storable_text(value: str) -> str:
    """``value`` without NUL bytes or lone surrogates (each becomes U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def token_count(value: Any, field: str) -> int | None:
    """A usage figure as a whole number in range, or a malformed-response error naming the field."""
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise malformed(f"usage {field} is {str(value)[:40]!r}, not a whole number")
    if not 0 <= value <= MAX_TOKENS:
        raise malformed(f"usage {field} = {str(value)[:40]} is out of range")
    return value


def _name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise malformed(f"{field} is {type(value).__name__}, not a name")
    return storable_text(value)


def readable_usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(prompt, cached, completion) tokens of a refused answer's usage, when all three can be read; else
    (None, None, None): the call was paid all the same and is charged at its estimate."""
    if not isinstance(usage, dict):
        return None, None, None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    try:
        prompt = token_count(usage.get("prompt_tokens"), "prompt_tokens")
        completion = token_count(usage.get("completion_tokens"), "completion_tokens")
        cached_count = token_count(cached or 0, "cached_tokens")
    except TransientError:
        return None, None, None
    if prompt is None or completion is None or (cached_count or 0) > prompt:
        return None, None, None
    return prompt, cached_count, completion


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    ttft_ms: float | None = None
    response_model: str | None = None
    logprobs_json: str | None = None
    rate: RateInfo | None = None
    reasoning_tokens: int | None = None  # part of completion_tokens (usage.completion_tokens_details)
    cache_write_tokens: int | None = None  # part of prompt_tokens, when the server reports them

    def __post_init__(self) -> None:
        """Check every field a server controls (see the module docstring); refuse what cannot be stored."""
        if not isinstance(self.text, str):
            raise malformed(f"the answer is {type(self.text).__name__}, not text")
        fixed: dict[str, Any] = {
            "text": storable_text(self.text),
            "finish_reason": _name(self.finish_reason, "finish_reason"),
            "response_model": _name(self.response_model, "model"),
            "prompt_tokens": token_count(self.prompt_tokens, "prompt_tokens"),
            "cached_tokens": token_count(self.cached_tokens, "cached_tokens"),
            "completion_tokens": token_count(self.completion_tokens, "completion_tokens"),
            "reasoning_tokens": token_count(self.reasoning_tokens, "reasoning_tokens"),
            "cache_write_tokens": token_count(self.cache_write_tokens, "cache_write_tokens"),
        }
        prompt, cached = fixed["prompt_tokens"], fixed["cached_tokens"]
        if prompt is not None and cached is not None and cached > prompt:
            raise malformed(f"usage cached_tokens {cached} exceeds prompt_tokens {prompt}")
        for field in ("latency_ms", "ttft_ms"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int | float) or not math.isfinite(value)):
                raise malformed(f"{field} is not a number")
        if self.logprobs_json is not None and not isinstance(self.logprobs_json, str):
            raise malformed("logprobs is not text")
        if self.logprobs_json is not None:
            fixed["logprobs_json"] = storable_text(self.logprobs_json)
        for field, value in fixed.items():
            if value is not getattr(self, field):
                object.__setattr__(self, field, value)


class CallCancelled(Exception):
    """The caller stopped while the call waited for its turn on the server: nothing was sent."""


class Provider(Protocol):
    """A chat-completions server: one attempt per call, errors classified into :mod:`workbench.errors`."""

    def complete(self, body: dict[str, Any], stop: threading.Event | None = None) -> Completion:
        """The answer to ``body`` (sent exactly as planned)."""
        ...

    def stream(
        self,
        body: dict[str, Any],
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Completion:
        """The answer to ``body``, streamed; ``on_text`` receives each piece as it arrives."""
        ...

    def list_models(self) -> list[str]:
        """The model ids the server offers."""
        ...
