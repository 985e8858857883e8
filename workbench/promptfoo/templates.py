"""promptfoo prompts -> workbench prompt files (plain ``{{var}}`` only; nunjucks is refused)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import InputError
from workbench.promptfile import ALLOWED_PARAMS, PromptFile, prompt_from_dict
from workbench.promptfoo.reading import Notes, read_yaml, resolve_files, short, slug
from workbench.templating import VARIABLE

_RAW_BLOCK = re.compile(r"\{%\s*raw\s*%\}(.*?)\{%\s*endraw\s*%\}", re.S)
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{\{|\{%|\{#", re.S)
_SIMPLE_VAR = re.compile(r"^\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}$")
# A string literal ({{ '{' }}, how the export writes a brace nunjucks could misread) and a variable
# written as {parts: [...]} joined back (the export's form for texts promptfoo would otherwise change).
_STRING = re.compile(r"""^\{\{\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*\}\}$""")
_JOINED_VAR = re.compile(r"""^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.parts\s*\|\s*join\(\s*(?:''|"")\s*\)\s*\}\}$""")


class ImportFailed(InputError):
    """The import stopped (no labels, no prompt left); ``untranslated`` still lists what would not translate."""

    def __init__(self, message: str, untranslated: Sequence[str]) -> None:
        super().__init__(message)
        self.untranslated = list(untranslated)


@dataclass
class RawPrompt:
    """A promptfoo prompt before translation; ``hint`` is its label or file name (for the prompt name).

    ``label`` and ``ident`` are what a provider's ``prompts`` list matches: promptfoo's label (the
    given one, else the text) and, for file prompts, the ``file://`` reference.
    """

    hint: str
    messages: Any
    config: dict[str, Any]
    source: str
    label: str = ""
    ident: str | None = None


def _chat(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(m, Mapping) and "role" in m for m in value):
        return [dict(m) for m in value]
    return None


def _messages_from_text(text: str) -> list[dict[str, Any]]:
    """Chat JSON (a list of {role, content}) or plain text (one user message)."""
    if text.lstrip().startswith("["):
        try:
            chat = _chat(json.loads(text))
        except json.JSONDecodeError:
            chat = None
        if chat is not None:
            return chat
    return [{"role": "user", "content": text}]


def _file_prompts(ref: str, label: str | None, base: Path, config: Path, notes: Notes) -> list[RawPrompt]:
    if re.search(r"\.(py|js|cjs|mjs|ts)(:[\w.]+)?$", ref):
        notes.add(f"prompt {ref}: a prompt function cannot be imported (the workbench needs a template)")
        return []
    found: list[tuple[str, list[dict[str, Any]]]] = []
    found_csv: list[RawPrompt] = []  # CSV rows carry their own labels
    for path in resolve_files(ref, base, config):
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            chat = _chat(read_yaml(path, "prompt file"))
            if chat is None:
                notes.add(f"prompt {path.name}: not a list of chat messages, not imported")
                continue
            found.append((path.stem, chat))
            continue
        text = path.read_text(encoding="utf-8-sig")
        if suffix == ".csv":
            for number, (row_label, raw) in enumerate(csv_prompts(text), 1):
                shown = row_label or label or f"Prompt {number} - {raw}"
                hint = row_label or (f"{label}-{number}" if label else f"{path.stem}-{number}")
                found_csv.append(RawPrompt(hint, _messages_from_text(raw), {}, ref, shown, ref))
            continue
        if suffix == ".jsonl":
            lines = [line for line in text.splitlines() if line.strip()]
            found.extend((f"{path.stem}-{k}", _messages_from_text(line)) for k, line in enumerate(lines, 1))
        elif suffix == ".json":
            found.append((path.stem, _messages_from_text(text)))
        else:
            parts = [p.strip() for p in re.split(r"^-{3,}[ \t]*$", text, flags=re.M)]
            parts = [p for p in parts if p]
            stems = [path.stem] if len(parts) == 1 else [f"{path.stem}-{k}" for k in range(1, len(parts) + 1)]
            found.extend((stem, _messages_from_text(part)) for stem, part in zip(stems, parts, strict=True))
    if found_csv:
        return found_csv + _file_found(found, label, ref)
    return _file_found(found, label, ref)


def _file_found(found: list[tuple[str, list[dict[str, Any]]]], label: str | None, ref: str) -> list[RawPrompt]:
    path_text = ref[len("file://") :]
    if label and len(found) > 1:
        return [RawPrompt(f"{label}-{k}", m, {}, ref, label, ref) for k, (_, m) in enumerate(found, 1)]
    return [RawPrompt(label or stem, m, {}, ref, label or f"{path_text}: {stem}", ref) for stem, m in found]


def csv_prompts(text: str) -> list[tuple[str | None, str]]:
    """(label, prompt text) of each row of a CSV prompts file, read as promptfoo reads it.

    Without a comma, each non-blank line is one prompt, taken as written (quotes included, the
    surrounding spaces dropped as promptfoo sends it), after a ``prompt`` header line if any.
    Otherwise the first row names the columns: each row with a ``prompt`` value is one prompt,
    labelled by its ``label`` column; fields are trimmed.
    """
    if "," not in text:
        lines = [line for line in re.split(r"\r?\n", text) if line.strip()]
        start = 1 if lines and lines[0].strip().lower() == "prompt" else 0
        return [(None, line.strip()) for line in lines[start:]]
    rows = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
    rows = [[field.strip() for field in row] for row in rows if any(field.strip() for field in row)]
    if not rows:
        return []
    header = rows[0]
    found = []
    for row in rows[1:]:
        record = dict(zip(header, row, strict=False))
        if record.get("prompt"):
            found.append((record.get("label") or None, record["prompt"]))
    return found


def read_prompts(raw: Any, base: Path, config: Path, notes: Notes) -> list[RawPrompt]:
    if raw is None:
        raise InputError(f"{config}: no prompts")
    if isinstance(raw, Mapping) and not ({"raw", "id"} & set(raw)):
        items: list[Any] = [{"id": key, "label": value} for key, value in raw.items()]  # {path: label}
    else:
        items = raw if isinstance(raw, list) else [raw]
    prompts: list[RawPrompt] = []
    extra: Mapping[str, Any]
    for number, item in enumerate(items, 1):
        if isinstance(item, str):
            text, label, extra = item, None, {}
        elif isinstance(item, Mapping) and isinstance(item.get("raw") or item.get("id"), str):
            text, label, extra = item.get("raw") or item["id"], item.get("label"), item.get("config") or {}
        else:
            notes.add(f"prompt {number}: {short(item)} not understood (functions cannot be imported)")
            continue
        label = None if label is None else str(label)
        if text.startswith("file://") and "\n" not in text:
            for prompt in _file_prompts(text, label, base, config, notes):
                prompt.config = dict(extra)
                prompts.append(prompt)
        else:
            ident = item.get("id") if isinstance(item, Mapping) and isinstance(item.get("id"), str) else None
            messages = _messages_from_text(text)
            prompts.append(RawPrompt(label or "", messages, dict(extra), f"prompt {number}", label or text, ident))
    return prompts


def _template(content: str) -> tuple[str, list[str]]:
    """promptfoo template -> workbench template, and the nunjucks constructs that cannot be translated.

    Plain ``{{var}}`` stays; ``{% raw %}`` blocks and string literals (``{{ '{' }}``) become their
    text; ``{{ name.parts | join('') }}`` becomes ``{{name}}`` (the var's parts are joined when the
    tests are read). Literal text that would read as a workbench ``{{name}}`` cannot be kept.
    """
    bad: list[str] = []
    out: list[str] = []
    variables = 0

    def check(segment: str) -> None:
        nonlocal variables
        position = 0
        for match in _TAG.finditer(segment):
            out.append(segment[position : match.start()])
            tag = match.group(0)
            literal, joined = _STRING.match(tag), _JOINED_VAR.match(tag)
            if _SIMPLE_VAR.match(tag):
                out.append(tag)
                variables += 1
            elif joined:
                out.append(f"{{{{{joined.group(1)}}}}}")
                variables += 1
            elif literal:
                out.append(literal.group(1) if literal.group(1) is not None else literal.group(2))
            else:
                bad.append(short(tag, 40))
                out.append(tag)
            position = match.end()
        out.append(segment[position:])

    position = 0
    for block in _RAW_BLOCK.finditer(content):
        check(content[position : block.start()])
        out.append(block.group(1))
        position = block.end()
    check(content[position:])
    text = "".join(out)
    if not bad and len(VARIABLE.findall(text)) != variables:
        bad.append("literal text that reads as {{name}} (a literal {{name}} would become a variable)")
    return text, bad


def response_enum(params: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(property, labels) of the first string ``enum`` in a json_schema response_format."""
    fmt = params.get("response_format")
    schema = fmt.get("json_schema", {}).get("schema") if isinstance(fmt, Mapping) else None
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    for name, spec in (properties or {}).items():
        enum = spec.get("enum") if isinstance(spec, Mapping) else None
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            return str(name), list(enum)
    return None


def finish_prompts(
    raw_prompts: list[RawPrompt],
    provider_params: Mapping[str, Any],
    description: str,
    forced: Sequence[str] | None,
    own_labels: Any,
    test_labels: list[str],
    path: Path,
    notes: Notes,
) -> list[tuple[RawPrompt, PromptFile]]:
    """The prompts that translate, each with the promptfoo prompt it came from."""
    prompts: list[tuple[RawPrompt, PromptFile]] = []
    used: set[str] = set()
    missing_labels: list[str] = []
    for prompt in raw_prompts:
        name = slug(prompt.hint or description or "promptfoo")
        base_name, k = name, 2
        while name in used:
            name, k = f"{base_name[:76]}-{k}", k + 1
        used.add(name)
        params: dict[str, Any] = dict(provider_params)
        for key, value in prompt.config.items():
            if key in ALLOWED_PARAMS:
                params[key] = value
            else:
                notes.add(f"prompt {name}: config {key} not translated (the sweep chooses model and temperature)")
        messages = []
        bad: list[str] = []
        for message in prompt.messages:
            content = message.get("content")
            if not isinstance(content, str):
                bad.append("non-text message content")
                continue
            text, problems = _template(content)
            bad.extend(problems)
            messages.append({**message, "content": text})
        if bad:
            notes.add(
                f"prompt {name} ({prompt.source}): nunjucks {', '.join(dict.fromkeys(bad))} cannot be translated"
                " (the workbench substitutes {{name}} literally); prompt not imported"
            )
            continue
        enum = response_enum(params)
        labels = list(forced) if forced else (enum[1] if enum else None) or own_labels or test_labels
        if not labels:
            missing_labels.append(name)
            continue
        data = {"name": name, "description": description, "labels": labels, "messages": messages, "params": params}
        try:
            prompts.append((prompt, prompt_from_dict(data, f"{path} prompt {name}")))
        except InputError as exc:
            notes.add(f"prompt {name}: {exc}; not imported")
    if missing_labels:
        raise ImportFailed(
            f"{path}: no classification labels found for prompt(s) {', '.join(missing_labels)} (no JSON-schema"
            " enum, equals assertion or __expected value names them); pass labels=... (--labels) to import anyway",
            notes.lines(),
        )
    if not prompts:
        raise ImportFailed(f"{path}: no prompt could be imported: " + "; ".join(notes.lines()[-3:]), notes.lines())
    return prompts
