"""Prompt files (contract): YAML with ``name``, ``description``, ``labels``, ``messages``, ``params``.

A prompt's identity is the hash of its content (labels, messages, params); two files with the
same content are the same version whatever their name or description.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench import yamlsafe
from workbench.errors import InputError
from workbench.scoring import normalize
from workbench.templating import message_variables

ROLES = ("system", "developer", "user", "assistant")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
# Parameters a prompt may carry; model and temperature come from the sweep.
ALLOWED_PARAMS = {
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "response_format",
    "logit_bias",
    "reasoning_effort",
}


@dataclass(frozen=True)
class PromptFile:
    """One prompt version."""

    name: str
    labels: tuple[str, ...]
    messages: tuple[dict[str, str], ...]
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        return message_variables(self.messages)

    @property
    def content_hash(self) -> str:
        """Version identity: sha256 of the canonical JSON of labels, messages and params."""
        body = {"labels": list(self.labels), "messages": list(self.messages), "params": self.params}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "description": self.description, "labels": list(self.labels)}
        data["messages"] = [dict(m) for m in self.messages]
        if self.params:
            data["params"] = dict(self.params)
        return data

    def to_yaml(self) -> str:
        return yaml.dump(self.to_dict(), Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks so prompt files stay readable in review."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data and not any(ch in data for ch in "\r\t") and data == data.rstrip(" "):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_BlockDumper.add_representer(str, _str_presenter)


def prompt_from_dict(data: Any, source: str = "prompt") -> PromptFile:
    """Validate a mapping into a :class:`PromptFile`; errors name the source and the field."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a prompt file must be a YAML mapping with name, labels and messages")
    unknown = set(data) - {"name", "description", "labels", "messages", "params"}
    if unknown:
        raise InputError(f"{source}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InputError(f"{source}: 'name' must be letters, digits, '.', '_' or '-' (got {name!r})")
    labels = data.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, (str, int)) for x in labels):
        raise InputError(f"{source}: 'labels' must be a non-empty list of strings")
    labels = [str(x).strip() for x in labels]
    if any(not x for x in labels) or len(set(labels)) != len(labels):
        raise InputError(f"{source}: 'labels' must be distinct and non-empty")
    if "unparsed" in labels:
        raise InputError(f"{source}: 'unparsed' is reserved and cannot be a label")
    seen: dict[str, str] = {}
    for label in labels:  # answers are matched after normalisation: two labels may not read the same
        if not normalize(label):
            raise InputError(f"{source}: label {label!r} has no letters or digits, so no answer can match it")
        first = seen.setdefault(normalize(label), label)
        if first != label:
            raise InputError(f"{source}: labels {first!r} and {label!r} read the same once case and punctuation go")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError(f"{source}: 'messages' must be a non-empty list of {{role, content}}")
    clean: list[dict[str, str]] = []
    for i, message in enumerate(messages, start=1):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise InputError(f"{source}: message {i} needs 'role' and 'content'")
        if message["role"] not in ROLES:
            raise InputError(f"{source}: message {i} has role {message['role']!r}; use one of {', '.join(ROLES)}")
        if not isinstance(message["content"], str):
            raise InputError(f"{source}: message {i} content must be text")
        extra = set(message) - {"role", "content", "name"}
        if extra:
            raise InputError(f"{source}: message {i} has unknown key(s) {', '.join(sorted(map(str, extra)))}")
        entry = {"role": str(message["role"]), "content": message["content"]}
        if message.get("name"):
            entry["name"] = str(message["name"])
        clean.append(entry)
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise InputError(f"{source}: 'params' must be a mapping")
    bad = set(params) - ALLOWED_PARAMS
    if "model" in params or "temperature" in params:
        raise InputError(f"{source}: 'params' may not set model or temperature; the sweep chooses them")
    if bad:
        raise InputError(f"{source}: unsupported param(s) {', '.join(sorted(map(str, bad)))}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise InputError(f"{source}: 'description' must be text")
    return PromptFile(
        name=name,
        description=description.strip(),
        labels=tuple(labels),
        messages=tuple(clean),
        params=dict(params),
    )


def parse_prompt(text: str, source: str = "prompt") -> PromptFile:
    """Parse YAML text into a validated prompt."""
    return prompt_from_dict(yamlsafe.load(text, source), source)  # aliases may not expand without bound


def load_prompt(path: str | Path) -> PromptFile:
    """Load and validate a prompt file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such prompt file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a prompt file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the prompt file is empty")
    return parse_prompt(text, str(path))


def save_prompt(prompt: PromptFile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(prompt.to_yaml(), encoding="utf-8")
    return path
