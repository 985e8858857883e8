"""Hostile answers of the fake OpenAI server: what a broken or malicious model server may send.

Scripted like the other faults (``server.faults.append("huge_usage")``); each one answers the
request as the fake server would, then spoils one field. The record of the request carries the
spoiled ``usage`` and ``answer``, so tests can say what the server claimed.

- ``echo_auth``: a 400 whose message echoes the request's ``Authorization`` header (key included).
- ``model_object``: ``"model"`` is an object; ``other_model``: ``"model"`` names another model
  (``gpt-4.1`` for any request, ``gpt-4.1-nano`` for a ``gpt-4.1`` request).
- ``huge_usage`` (10^30 tokens), ``negative_usage``, ``nan_usage`` and ``infinite_usage`` (bare
  ``NaN`` / ``Infinity`` in the JSON, as Python's encoder writes them), ``no_usage``.
- ``nul_answer``: a NUL byte in the answer text (PostgreSQL cannot store it in text columns).
- ``dict_finish``: ``finish_reason`` is an object.
- ``drip``: a good answer sent one byte every :data:`DRIP_SECONDS` (each read is quick; the call is not).
"""

from __future__ import annotations

import json
from typing import Any

HOSTILE_FAULTS = frozenset(
    {
        "echo_auth",
        "model_object",
        "other_model",
        "huge_usage",
        "negative_usage",
        "nan_usage",
        "infinite_usage",
        "no_usage",
        "nul_answer",
        "dict_finish",
        "drip",
    }
)
DRIP_SECONDS = 0.5  # "drip": a whole answer, one byte every half second (never a stalled read)


def echo_auth_error(authorization: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Invalid header value. Received Authorization: {authorization}",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_header",
        }
    }


def spoil(fault: str, payload: dict[str, Any]) -> bytes:
    """A chat-completion ``payload`` with one field spoiled as ``fault`` says, as the bytes to send."""
    choice = payload["choices"][0]
    usage = payload.get("usage") or {}
    if fault == "model_object":
        payload["model"] = {"id": payload["model"], "owned_by": "someone"}
    elif fault == "other_model":
        payload["model"] = "gpt-4.1-nano" if payload["model"] == "gpt-4.1" else "gpt-4.1"
    elif fault == "huge_usage":
        usage["prompt_tokens"] = 10**30
        usage["total_tokens"] = 10**30 + usage.get("completion_tokens", 0)
    elif fault == "negative_usage":
        usage["completion_tokens"] = -1_000_000
        usage["total_tokens"] = usage.get("prompt_tokens", 0) - 1_000_000
    elif fault == "nan_usage":
        usage["prompt_tokens"] = float("nan")
    elif fault == "infinite_usage":
        usage["completion_tokens"] = float("inf")
    elif fault == "no_usage":
        payload.pop("usage", None)
    elif fault == "nul_answer":
        choice["message"]["content"] = "positive\x00"
    elif fault == "dict_finish":
        choice["finish_reason"] = {"reason": "stop"}
    return json.dumps(payload, separators=(",", ":")).encode()
