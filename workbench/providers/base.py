"""The normalised result of one chat completion, whatever server produced it."""

from __future__ import annotations

from dataclasses import dataclass


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
