"""promptfoo providers -> (model, temperature) cells of OpenAI chat models, and the prompts each runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workbench.errors import InputError
from workbench.promptfile import ALLOWED_PARAMS
from workbench.promptfoo.reading import Notes, short
from workbench.sweep import check_model_name, check_temperatures

_NON_CHAT = {"completion", "embedding", "embeddings", "responses", "assistant", "realtime", "image", "moderation"}
# Models promptfoo sends no temperature to (reasoning models); others get promptfoo's default of 0.
_NO_TEMPERATURE = re.compile(r"^(o\d|gpt-5(?!-chat)|codex)")


def _openai_model(provider_id: str) -> str | None:
    if not provider_id.startswith("openai:"):
        return None
    rest = provider_id[len("openai:") :]
    head, _, tail = rest.partition(":")
    if head == "chat":
        return tail or None
    if head in _NON_CHAT:
        return None
    return rest or None


def read_providers(
    raw: Any, notes: Notes
) -> tuple[list[tuple[str, float | None]], dict[str, Any], list[list[str] | None]]:
    """(model, temperature) cells of the OpenAI chat providers, the params they all share, and for each
    cell the prompt references of its provider's ``prompts`` (None: every prompt)."""
    if raw is None:
        notes.add("no providers: choose the models in the workbench")
        return [], {}, []
    items = raw if isinstance(raw, list) else [raw]
    cells: list[tuple[str, float | None]] = []
    only: list[list[str] | None] = []
    params: list[dict[str, Any]] = []
    for item in items:
        options: Any = {}
        if isinstance(item, str):
            provider_id = item
        elif isinstance(item, Mapping) and "id" in item:
            provider_id, options = item["id"], item
        elif isinstance(item, Mapping) and len(item) == 1:
            provider_id, options = next(iter(item.items()))
        else:
            notes.add(f"provider {short(item)}: not understood, not imported")
            continue
        provider_id = str(provider_id)
        model = _openai_model(provider_id)
        if model is None:
            notes.add(f"provider {provider_id}: only OpenAI chat models are imported")
            continue
        for key in options if isinstance(options, Mapping) else ():
            if key == "transform":
                notes.add(
                    f"provider {provider_id}: transform {short(options[key], 40)} not translated (the workbench"
                    " scores the model's own answer)"
                )
            elif key not in ("id", "label", "config", "prompts"):
                notes.add(f"provider {provider_id}: {key} not translated")
        check_model_name(model, f"provider {short(provider_id)}")
        config = (options or {}).get("config") or {} if isinstance(options, Mapping) else {}
        config = dict(config) if isinstance(config, Mapping) else {}
        omit_defaults = config.pop("omitDefaults", None) is True  # promptfoo then sends no temperature of its own
        passthrough = config.pop("passthrough", None)
        if isinstance(passthrough, Mapping):  # copied into the request body as it is
            config.update(passthrough)
        temperature = config.get("temperature")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)):
            notes.add(f"provider {provider_id}: temperature {temperature!r} is not a number, ignored")
            temperature = None
        if temperature is not None:  # NaN, -5 and 3 are refused as they are on the command line
            try:
                check_temperatures([float(temperature)])
            except InputError as exc:
                raise InputError(f"provider {provider_id}: {exc}") from None
        own: dict[str, Any] = {}
        for key, value in config.items():
            if key == "temperature":
                continue
            if key in ALLOWED_PARAMS:
                own[key] = value
            elif key in ("apiKey", "apiKeyEnvar"):
                notes.add(f"provider {provider_id}: {key} ignored (the workbench reads OPENAI_API_KEY)")
            elif key in ("apiBaseUrl", "apiHost"):
                notes.add(f"provider {provider_id}: custom server in {key}; set OPENAI_BASE_URL instead")
            else:
                notes.add(f"provider {provider_id}: config {key} not translated")
        if temperature is None and not omit_defaults and not _NO_TEMPERATURE.match(model):
            notes.add(f"provider {provider_id}: no temperature set; promptfoo sends 0, imported as 0")
            temperature = 0.0
        cells.append((model, None if temperature is None else float(temperature)))
        params.append(own)
        refs = options.get("prompts") if isinstance(options, Mapping) else None
        if refs is not None and not (isinstance(refs, list) and all(isinstance(r, str) for r in refs)):
            notes.add(f"provider {provider_id}: prompts {short(refs)} is not a list of prompt labels; ignored")
            refs = None
        only.append(None if refs is None else list(refs))
    shared: dict[str, Any] = {}
    for key in dict.fromkeys(k for p in params for k in p):
        values = [p.get(key) for p in params]
        if all(v == values[0] for v in values):
            shared[key] = values[0]
        else:
            notes.add(f"providers set different {key} values; not imported (set it in the prompt's params)")
    return cells, shared, only


def prompt_ref_matches(ref: str, label: str, ident: str | None) -> bool:
    """promptfoo's rule for a provider's ``prompts`` entry: the label or id, a ``*`` prefix, or ``ref:``."""
    names = [n for n in (label, ident) if n]
    if ref in names:
        return True
    if ref.endswith("*") and any(n.startswith(ref[:-1]) for n in names):
        return True
    return any(n.startswith(f"{ref}:") for n in names)
