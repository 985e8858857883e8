"""What every provider offers (:class:`Provider`) and the normalised result of one chat completion."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RateInfo:
    """What the server said about its rate limits (``x-ratelimit-*`` headers), when it said it."""

    remaining_requests: int | None = None
    limit_requests: int | None = None
    reset_requests_s: float | None = None


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
