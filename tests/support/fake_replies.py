"""What the fake OpenAI server answers: responders, request checks, logprobs and stream pieces.

Part of the loopback server in :mod:`tests.support.fake_openai` (see its docstring for the rules).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.fake_hostile import HOSTILE_FAULTS
from workbench.tokens import encoding

Body = dict[str, Any]
Responder = Callable[[Body, int], str]

DEFAULT_MODELS = (
    "gpt-4.1-nano",
    "gpt-4.1-mini",
    "gpt-4.1",
    "gpt-4o-mini",
    "gpt-6-luna",
    "gpt-6-sol",
    "gpt-6-astra",
    "gpt-5-mini",
    "gpt-5-nano",
)
FAULTS = HOSTILE_FAULTS | {"429", "500", "503", "malformed", "truncated", "cut", "stall", "drop", "401", "404"}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_WORDS = (
    "amber", "brisk", "cedar", "delta", "ember", "fable", "gleam", "harbor",
    "ivory", "jolly", "kite", "lumen", "maple", "noble", "orbit", "pebble",
    "quill", "river", "sable", "tidal", "umber", "vivid", "willow", "xenon",
    "yarrow", "zephyr", "acorn", "bloom", "comet", "dune", "echo", "frost",
)  # fmt: skip
_UNSET = object()


# --------------------------------------------------------------------------- reasoning models


@dataclass(frozen=True)
class ReasoningRules:
    """What OpenAI's reasoning models accept on /v1/chat/completions (as documented, 2026-12)."""

    efforts: tuple[str, ...]
    default: str
    sampling_at_none: bool  # GPT-6: temperature, top_p and logprobs only with reasoning_effort "none"


_GPT6 = ReasoningRules(("none", "low", "medium", "high", "xhigh", "max"), "medium", True)
_ASTRA = ReasoningRules(("low", "medium", "high", "xhigh"), "medium", False)
_GPT5 = ReasoningRules(("minimal", "low", "medium", "high"), "medium", False)
_O_SERIES = ReasoningRules(("low", "medium", "high"), "medium", False)
# Reasoning tokens the fake spends per effort (plus up to half again, from the request's hash).
REASONING_BASE = {"none": 0, "minimal": 4, "low": 16, "medium": 64, "high": 256, "xhigh": 512, "max": 1024}


def reasoning_rules(model: str) -> ReasoningRules | None:
    """The rules of a reasoning model (dated snapshots share their family's); None for other models."""
    if model.startswith("gpt-6-astra"):
        return _ASTRA
    if model.startswith("gpt-6-"):
        return _GPT6
    if model == "gpt-5" or model.startswith(("gpt-5-", "gpt-5.")):
        return _GPT5
    if model.startswith(("o1", "o3", "o4")):
        return _O_SERIES
    return None


def reasoning_tokens(body: Mapping[str, Any]) -> int:
    """How many tokens the fake 'thinks' for this request: 0 for non-reasoning models and effort none."""
    rules = reasoning_rules(str(body.get("model", "")))
    if rules is None:
        return 0
    base = REASONING_BASE[str(body.get("reasoning_effort") or rules.default)]
    seed = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    return base + (int.from_bytes(seed[:2], "big") % (base // 2 + 1) if base else 0)


def _quoted_list(values: Iterable[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


def check_model_params(body: Mapping[str, Any]) -> None:
    """OpenAI's 400s for parameters a model refuses (messages, params and codes as the API sends them)."""
    model = str(body["model"])
    rules = reasoning_rules(model)
    if rules is None:
        for name in ("reasoning_effort", "verbosity"):
            if body.get(name) is not None:
                raise _BadRequest(
                    f"Unsupported parameter: '{name}' is not supported with this model.", name, "unsupported_parameter"
                )
        return
    if body.get("max_tokens") is not None:
        raise _BadRequest(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in rules.efforts:
        raise _BadRequest(
            f"Unsupported value: 'reasoning_effort' does not support {json.dumps(effort)} with this model. "
            f"Supported values are: {_quoted_list(rules.efforts)}.",
            "reasoning_effort",
            "unsupported_value",
        )
    sampling = rules.sampling_at_none and (effort or rules.default) == "none"
    if sampling:
        return
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise _BadRequest(
            f"Unsupported value: 'temperature' does not support {json.dumps(temperature)} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    for name in ("top_p", "logprobs", "top_logprobs"):
        if body.get(name) not in (None, False):
            raise _BadRequest(
                f"Unsupported parameter: '{name}' is not supported with this model.", name, "unsupported_parameter"
            )


# --------------------------------------------------------------------------- responders


def _temperature(body: Mapping[str, Any]) -> float:
    value = body.get("temperature")
    return 1.0 if value is None else float(value)


def _digest(body: Mapping[str, Any], call_index: int) -> bytes:
    """sha256 of messages + temperature (+ the repeat counter when temperature > 0)."""
    temperature = _temperature(body)
    basis = json.dumps(body.get("messages"), sort_keys=True, ensure_ascii=False) + f"|t={temperature!r}"
    if temperature != 0:
        basis += f"|n={call_index}"
    return hashlib.sha256(basis.encode("utf-8")).digest()


def default_responder(body: Body, call_index: int) -> str:
    """A deterministic filler answer; see the module docstring for what it depends on."""
    digest = _digest(body, call_index)
    words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[4:12])
    return f"Fake answer {digest[:4].hex()}: {words}."


def last_user_text(body: Mapping[str, Any]) -> str:
    """Text of the last ``user`` message (text parts joined when the content is a list)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
            return ""
    return ""


def scripted_responder(mapping: Mapping[str, str], default: str = "") -> Responder:
    """Answer ``mapping[key]`` for the first key (in mapping order) found in the last user message.

    Useful with known gold labels: map a distinctive substring of each sample's text to the label
    the "model" should answer (right or deliberately wrong). Falls back to ``default``.
    """
    items = list(mapping.items())

    def respond(body: Body, call_index: int) -> str:
        text = last_user_text(body)
        for needle, answer in items:
            if needle in text:
                return answer
        return default

    return respond


def label_responder(labels: Iterable[str]) -> Responder:
    """Answer one of ``labels``, picked by the same hash as :func:`default_responder`.

    Stable at temperature 0, varying across repeats at temperature > 0. Handy for UI demos.
    """
    choices = list(labels)
    if not choices:
        raise ValueError("label_responder needs at least one label")

    def respond(body: Body, call_index: int) -> str:
        return choices[int.from_bytes(_digest(body, call_index)[:4], "big") % len(choices)]

    return respond


# --------------------------------------------------------------------------- helpers


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> Body:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def mask_key(key: str) -> str:
    """How an error message shows a key: a short prefix and asterisks, never the key itself."""
    return f"{key[: min(3, len(key) // 2)]}****"


def _seconds_text(seconds: float) -> str:
    """Duration the way OpenAI's ``x-ratelimit-reset-*`` headers write it ("120ms", "1.5s")."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    return f"{seconds:.3g}s"


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def _validate_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise _BadRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON."
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("you must provide a model parameter", param="model")
    messages = body.get("messages")
    if messages is None:
        raise _BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _BadRequest("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        raise _BadRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _BadRequest(f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role", "invalid_value")
        content = message.get("content")
        if not (isinstance(content, str | list) or (content is None and message["role"] == "assistant")):
            raise _BadRequest(f"Invalid type for 'messages[{i}].content'.", f"messages[{i}].content", "invalid_type")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise _BadRequest("Invalid 'temperature': expected a number between 0 and 2.", "temperature")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _BadRequest(f"Invalid '{name}': expected an integer of at least 1.", name, "integer_below_min_value")
    tier = body.get("service_tier")
    if tier is not None and tier not in ("auto", "default", "flex", "priority", "scale"):
        raise _BadRequest(
            f"Invalid value for 'service_tier': {tier!r}. Supported values are: 'auto', 'default', 'flex', "
            "'scale' and 'priority'.",
            "service_tier",
            "invalid_value",
        )
    top = body.get("top_logprobs")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise _BadRequest("Invalid 'top_logprobs': expected an integer between 0 and 20.", "top_logprobs")
        if not body.get("logprobs"):
            raise _BadRequest("'logprobs' must be true when 'top_logprobs' is set.", "top_logprobs")


def _logprob_entries(tokens: list[int], seed: bytes, top: int) -> list[Body]:
    """A plausible ``logprobs.content`` list: confident first token, milder ones after."""
    enc = encoding()
    entries = []
    for i, token in enumerate(tokens):
        raw = enc.decode_single_token_bytes(token)
        h = hashlib.blake2b(seed + i.to_bytes(4, "big"), digest_size=4).digest()
        logprob = -(h[0] / 255) * (0.05 if i == 0 else 0.9) - 1e-5
        alternatives = []
        for k in range(top):
            if k == 0:
                alternatives.append((token, raw, logprob))
                continue
            alt = (token + 7919 * k + h[1]) % enc.n_vocab
            try:
                alt_raw = enc.decode_single_token_bytes(alt)
            except KeyError:
                alt_raw = b"?"
            alternatives.append((alt, alt_raw, logprob - 1.5 * k - h[2] / 255))
        entries.append(
            {
                "token": raw.decode("utf-8", errors="replace"),
                "logprob": round(logprob, 6),
                "bytes": list(raw),
                "top_logprobs": [
                    {"token": r.decode("utf-8", errors="replace"), "logprob": round(lp, 6), "bytes": list(r)}
                    for _, r, lp in alternatives
                ],
            }
        )
    return entries


def _split(tokens: list[int], text: str, pieces: int = 4) -> list[tuple[str, list[int]]]:
    """Split an answer into stream deltas: by tokens when that decodes cleanly, else by characters."""
    if not text:
        return []
    enc = encoding()
    size = max(1, math.ceil(len(tokens) / pieces))
    groups = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    decoded = [enc.decode(group) for group in groups]
    if "".join(decoded) == text:
        return list(zip(decoded, groups, strict=True))
    step = max(1, math.ceil(len(text) / pieces))
    parts = [text[i : i + step] for i in range(0, len(text), step)]
    return [(part, tokens if i == 0 else []) for i, part in enumerate(parts)]
