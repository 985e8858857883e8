"""The chat-completions request body and its reuse key: one definition for runner and exporter."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from workbench.promptfile import PromptFile
from workbench.templating import render_messages


def request_body(
    prompt: PromptFile, model: str, temperature: float | None, values: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """``{"model", "messages", "temperature", **params}``; ``temperature`` is left out when None.

    With ``values`` the ``{{variables}}`` are rendered; without, they stay in place (for exports).
    """
    messages = render_messages(prompt.messages, values) if values is not None else [dict(m) for m in prompt.messages]
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = abs(temperature) if temperature == 0 else temperature  # -0.0: another key, same call
    body.update(copy.deepcopy(prompt.params))  # a body never shares nested params with the prompt
    return body


def request_key(base_url: str, body: Mapping[str, Any], repeat: int) -> str:
    """Identity of a paid call: (base URL, full request body, repeat index). Never the API key."""
    canonical = json.dumps(
        {"base_url": base_url.rstrip("/"), "body": body, "repeat": repeat},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
