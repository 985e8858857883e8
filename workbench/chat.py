"""The chat-completions request body and its reuse key: one definition for runner and exporter."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from workbench.pricing import ModelInfo
from workbench.promptfile import PromptFile
from workbench.templating import render_messages


def request_body(
    prompt: PromptFile,
    model: str,
    temperature: float | None,
    values: Mapping[str, object] | None = None,
    effort: str | None = None,
    info: ModelInfo | None = None,
) -> dict[str, Any]:
    """``{"model", "messages", "temperature", **params, "reasoning_effort"}`` as the model takes it.

    ``temperature`` and ``effort`` are left out when None. With the catalog entry ``info`` the
    prompt's parameters are adapted to the model: ``max_tokens`` (the answer's budget) becomes
    ``max_completion_tokens`` for models that refuse it, plus the room reasoning needs at that effort
    (:meth:`ModelInfo.reasoning_room`: reasoning counts against the same cap), and parameters the
    model refuses at this effort (see :func:`refused_params`) are not sent. With ``values`` the
    ``{{variables}}`` are rendered; without, they stay in place (for exports).
    """
    messages = render_messages(prompt.messages, values) if values is not None else [dict(m) for m in prompt.messages]
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = abs(temperature) if temperature == 0 else temperature  # -0.0: another key, same call
    body.update(copy.deepcopy(prompt.params))  # a body never shares nested params with the prompt
    if effort is not None:
        body["reasoning_effort"] = effort
    if info is not None:
        if info.max_tokens_param == "max_completion_tokens" and "max_tokens" in body:
            cap = body.pop("max_tokens")  # the answer's budget; reasoning counts against the same cap
            room = info.reasoning_room(effort) if isinstance(cap, int) and not isinstance(cap, bool) else 0
            body.setdefault("max_completion_tokens", cap + room if room else cap)
        for name in refused_params(body, info, effort):
            body.pop(name, None)
    return body


def refused_params(params: Mapping[str, Any], info: ModelInfo, effort: str | None) -> list[str]:
    """The parameters among ``params`` the catalog says ``info``'s model refuses at ``effort``."""
    refused = []
    if not info.takes_temperature(effort):
        refused += [n for n in ("top_p", "presence_penalty", "frequency_penalty", "logit_bias") if n in params]
    if not info.takes_logprobs(effort):
        refused += [name for name in ("logprobs", "top_logprobs") if name in params]
    if not info.verbosity and "verbosity" in params:
        refused.append("verbosity")
    if not info.reasoning and "reasoning_effort" in params:
        refused.append("reasoning_effort")
    return refused


def request_key(base_url: str, body: Mapping[str, Any], repeat: int) -> str:
    """Identity of a paid call: (base URL, full request body, repeat index). Never the API key."""
    canonical = json.dumps(
        {"base_url": base_url.rstrip("/"), "body": body, "repeat": repeat},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
