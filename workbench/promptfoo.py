"""Import a promptfoo config (``promptfooconfig.yaml``) as workbench prompts, samples and a sweep plan.

What translates: prompts (inline text, chat JSON, ``{raw, label, config}`` objects, ``file://``
text files with ``---`` separators, JSON/JSONL/YAML chat files), OpenAI chat providers (several
entries for one model make a temperature grid), tests (inline, ``file://`` CSV/YAML/JSON/JSONL,
``defaultTest`` merged in), ``evaluateOptions.repeat``, and the gold label of each test: an
``equals`` assertion, an ``__expected`` CSV column, or the var named like the answer field when the
prompt's JSON schema lists the labels as an ``enum`` (promptfoo's f-score example).

What does not is listed, one human line each, in :attr:`ImportedConfig.untranslated`: other
assertions (the workbench scores by label match), derived metrics, non-OpenAI providers, and so
on. Nunjucks beyond plain ``{{var}}`` (filters, expressions, ``{% if %}``) cannot be expressed in
the workbench's literal templates: such a prompt is refused and listed, and the import fails if no
prompt is left.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.datasets import MAX_FIELD, Sample, SampleSet
from workbench.errors import InputError
from workbench.export.promptfoo_yaml import METADATA_LABEL_COLUMN, METADATA_LABELS
from workbench.promptfile import ALLOWED_PARAMS, NAME_PATTERN, PromptFile, prompt_from_dict
from workbench.templating import VARIABLE

csv.field_size_limit(MAX_FIELD)

_NON_CHAT = {"completion", "embedding", "embeddings", "responses", "assistant", "realtime", "image", "moderation"}
_RAW_BLOCK = re.compile(r"\{%\s*raw\s*%\}(.*?)\{%\s*endraw\s*%\}", re.S)
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{\{|\{%|\{#", re.S)
_SIMPLE_VAR = re.compile(r"^\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}$")
_EXPECTED = re.compile(
    r"^(not-)?(equals|i?contains(-any|-all)?|regex|starts-with|is-json|contains-json|javascript|fn|eval|python|"
    r"file|grade|llm-rubric|model-graded-\w+|factuality|similar|levenshtein|rouge-n|bleu|answer-relevance|"
    r"context-\w+|cost|latency|perplexity\w*|is-valid-\w+|is-sql|contains-sql|is-xml|contains-xml)(\([^)]*\))?:",
)
_OWN_ASSERTION = "// Workbench scoring:"
# Models promptfoo sends no temperature to (reasoning models); others get promptfoo's default of 0.
_NO_TEMPERATURE = re.compile(r"^(o\d|gpt-5(?!-chat)|codex)")


@dataclass(frozen=True)
class ImportedConfig:
    """A promptfoo config in workbench terms.

    ``temperatures`` lists each distinct temperature of the OpenAI providers. A provider that sets
    none gets what promptfoo would send: 0, or ``None`` (no temperature at all) for reasoning models
    (o1/o3/o4, gpt-5), which take none. ``cells`` keeps the exact (model, temperature) pairs in
    provider order, for configs whose providers do not form a full models x temperatures grid.
    """

    prompts: list[PromptFile]
    samples: SampleSet | None
    models: list[str]
    temperatures: list[float | None]
    repeats: int
    untranslated: list[str]
    label_column: str
    cells: list[tuple[str, float | None]] = field(default_factory=list)
    description: str = ""


@dataclass
class _Prompt:
    hint: str
    messages: Any
    config: dict[str, Any]
    source: str


@dataclass
class _Test:
    where: str
    vars: dict[str, Any]
    asserts: list[Any]
    row: int = 0  # CSV row (header = 1) or JSONL line of a test file; 0 for inline tests


class _Notes:
    """Untranslated items, deduplicated, with a count when one repeats across tests."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, line: str) -> None:
        self.counts[line] = self.counts.get(line, 0) + 1

    def lines(self) -> list[str]:
        return [line if n == 1 else f"{line} ({n} times)" for line, n in self.counts.items()]


def _short(value: Any, size: int = 70) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def slug(text: str) -> str:
    """A prompt-file name from free text ("Sentiment Analysis" -> "sentiment-analysis")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_text).strip("-._").lower()[:80].rstrip("-._")
    return name if NAME_PATTERN.match(name or "") else "promptfoo-prompt"


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}: broken YAML{where}: {getattr(exc, 'problem', None) or 'invalid'}") from None


def _files(ref: str, base: Path, config: Path) -> list[Path]:
    """Paths of a ``file://`` reference, relative to the config; globs expand in sorted order."""
    spec = ref[len("file://") :]
    pattern = spec if Path(spec).is_absolute() else str(base / spec)
    if any(ch in spec for ch in "*?["):
        paths = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
        if not paths:
            raise InputError(f"{config}: {ref} matches no file")
        return paths
    path = Path(pattern)
    if not path.is_file():
        raise InputError(f"{config}: {ref} not found (looked for {path})")
    return [path]


# --------------------------------------------------------------------------- providers


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


def _providers(raw: Any, notes: _Notes) -> tuple[list[tuple[str, float | None]], dict[str, Any]]:
    """(model, temperature) cells of the OpenAI chat providers, and the params they all share."""
    if raw is None:
        notes.add("no providers: choose the models in the workbench")
        return [], {}
    items = raw if isinstance(raw, list) else [raw]
    cells: list[tuple[str, float | None]] = []
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
            notes.add(f"provider {_short(item)}: not understood, not imported")
            continue
        provider_id = str(provider_id)
        model = _openai_model(provider_id)
        if model is None:
            notes.add(f"provider {provider_id}: only OpenAI chat models are imported")
            continue
        config = (options or {}).get("config") or {} if isinstance(options, Mapping) else {}
        temperature = config.get("temperature")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)):
            notes.add(f"provider {provider_id}: temperature {temperature!r} is not a number, ignored")
            temperature = None
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
        if temperature is None and not _NO_TEMPERATURE.match(model):
            notes.add(f"provider {provider_id}: no temperature set; promptfoo sends 0, imported as 0")
            temperature = 0.0
        cells.append((model, None if temperature is None else float(temperature)))
        params.append(own)
    shared: dict[str, Any] = {}
    for key in dict.fromkeys(k for p in params for k in p):
        values = [p.get(key) for p in params]
        if all(v == values[0] for v in values):
            shared[key] = values[0]
        else:
            notes.add(f"providers set different {key} values; not imported (set it in the prompt's params)")
    return cells, shared


# --------------------------------------------------------------------------- prompts


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


def _file_prompts(ref: str, label: str | None, base: Path, config: Path, notes: _Notes) -> list[_Prompt]:
    if re.search(r"\.(py|js|cjs|mjs|ts)(:[\w.]+)?$", ref):
        notes.add(f"prompt {ref}: a prompt function cannot be imported (the workbench needs a template)")
        return []
    found: list[tuple[str, list[dict[str, Any]]]] = []
    for path in _files(ref, base, config):
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            chat = _chat(_read_yaml(path, "prompt file"))
            if chat is None:
                notes.add(f"prompt {path.name}: not a list of chat messages, not imported")
                continue
            found.append((path.stem, chat))
            continue
        text = path.read_text(encoding="utf-8-sig")
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
    if label and len(found) > 1:
        return [_Prompt(f"{label}-{k}", m, {}, ref) for k, (_, m) in enumerate(found, 1)]
    return [_Prompt(label or stem, m, {}, ref) for stem, m in found]


def _raw_prompts(raw: Any, base: Path, config: Path, notes: _Notes) -> list[_Prompt]:
    if raw is None:
        raise InputError(f"{config}: no prompts")
    if isinstance(raw, Mapping) and not ({"raw", "id"} & set(raw)):
        items: list[Any] = [{"id": key, "label": value} for key, value in raw.items()]  # {path: label}
    else:
        items = raw if isinstance(raw, list) else [raw]
    prompts: list[_Prompt] = []
    for number, item in enumerate(items, 1):
        if isinstance(item, str):
            text, label, extra = item, None, {}
        elif isinstance(item, Mapping) and isinstance(item.get("raw") or item.get("id"), str):
            text, label, extra = item.get("raw") or item["id"], item.get("label"), item.get("config") or {}
        else:
            notes.add(f"prompt {number}: {_short(item)} not understood (functions cannot be imported)")
            continue
        label = None if label is None else str(label)
        if text.startswith("file://") and "\n" not in text:
            for prompt in _file_prompts(text, label, base, config, notes):
                prompt.config = dict(extra)
                prompts.append(prompt)
        else:
            prompts.append(_Prompt(label or "", _messages_from_text(text), dict(extra), f"prompt {number}"))
    return prompts


def _template(content: str) -> tuple[str, list[str]]:
    """promptfoo template -> workbench template, and the nunjucks constructs that cannot be translated."""
    bad: list[str] = []
    out: list[str] = []

    def check(segment: str) -> None:
        bad.extend(_short(m.group(0), 40) for m in _TAG.finditer(segment) if not _SIMPLE_VAR.match(m.group(0)))
        out.append(segment)

    position = 0
    for block in _RAW_BLOCK.finditer(content):
        check(content[position : block.start()])
        literal = block.group(1)
        if VARIABLE.search(literal):
            bad.append(_short(block.group(0), 40) + " (a literal {{name}} would become a variable)")
        out.append(literal)
        position = block.end()
    check(content[position:])
    return "".join(out), bad


def _response_enum(params: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(property, labels) of the first string ``enum`` in a json_schema response_format."""
    fmt = params.get("response_format")
    schema = fmt.get("json_schema", {}).get("schema") if isinstance(fmt, Mapping) else None
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    for name, spec in (properties or {}).items():
        enum = spec.get("enum") if isinstance(spec, Mapping) else None
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            return str(name), list(enum)
    return None


# --------------------------------------------------------------------------- tests


def _expected(value: str) -> dict[str, Any]:
    """An ``__expected`` cell as an assertion: ``type:value``, or a plain value meaning ``equals``."""
    if value in ("is-json", "contains-json", "is-xml", "contains-xml", "is-sql", "is-valid-openai-tools-call"):
        return {"type": value}
    match = _EXPECTED.match(value)
    if match:
        return {"type": value[: match.end() - 1], "value": value[match.end() :]}
    return {"type": "equals", "value": value}


def _csv_tests(path: Path, notes: _Notes) -> list[_Test]:
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""), strict=True)
    tests = []
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1  # the line a (possibly multi-line) record starts on
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{path}: row {start}: broken CSV ({exc})") from None
        if header is None:
            header = [h.strip() for h in record]
            continue
        if not record or all(not value.strip() for value in record):
            continue
        if len(record) != len(header):
            raise InputError(f"{path}: row {start}: {len(record)} fields, the header has {len(header)}")
        row = dict(zip(header, record, strict=True))
        asserts: list[Any] = []
        for key, value in row.items():
            if key.startswith("__expected") and value:
                asserts.append(_expected(value))
            elif key.startswith("__") and key != "__description" and value:
                notes.add(f"{path.name}: column {key} not translated")
        variables = {k: v for k, v in row.items() if not k.startswith("__")}
        tests.append(_Test(f"{path.name} row {start}", variables, asserts, start))
    return tests


def _test_file(ref: str, base: Path, config: Path, notes: _Notes) -> list[_Test]:
    tests: list[_Test] = []
    for path in _files(ref, base, config):
        suffix = path.suffix.lower()
        if suffix == ".csv":
            tests.extend(_csv_tests(path, notes))
            continue
        if suffix == ".jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):
                if line.strip():
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
                    tests.append(_inline_test(item, f"{path.name} line {number}", notes, number))
        elif suffix in (".yaml", ".yml", ".json"):
            loaded = _read_yaml(path, "test file")
            items = loaded if isinstance(loaded, list) else [loaded]
            tests.extend(_inline_test(item, f"{path.name} test {k}", notes) for k, item in enumerate(items, 1))
        else:
            notes.add(f"tests {ref}: {suffix or 'this'} files are not imported (use CSV, YAML, JSON or JSONL)")
    return tests


def _inline_test(item: Any, where: str, notes: _Notes, row: int = 0) -> _Test:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: a test must be a mapping with vars and assert")
    for key in item:
        if key not in ("vars", "assert", "description", "metadata", "options", "threshold"):
            notes.add(f"test field {key}: not translated")
    variables = item.get("vars") or {}
    if not isinstance(variables, Mapping):
        raise InputError(f"{where}: vars must be a mapping")
    return _Test(where, dict(variables), list(item.get("assert") or []), row)


def _tests(raw: Any, base: Path, config: Path, notes: _Notes) -> list[_Test]:
    if raw is None:
        return []
    tests: list[_Test] = []
    for number, item in enumerate(raw if isinstance(raw, list) else [raw], 1):
        if isinstance(item, str) and item.startswith("file://"):
            tests.extend(_test_file(item, base, config, notes))
        elif isinstance(item, str):
            notes.add(f"tests {_short(item)}: only file:// CSV, YAML, JSON and JSONL tests are imported")
        else:
            tests.append(_inline_test(item, f"{config.name} test {number}", notes))
    return tests


def _var_text(value: Any, base: Path) -> str | None:
    """A var as the text promptfoo would insert, or None when it cannot be one sample value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.startswith("file://"):
        path = Path(value[len("file://") :])
        path = path if path.is_absolute() else base / path
        if path.suffix.lower() in (".txt", ".md", ".html", ".xml", ".csv") and path.is_file():
            return path.read_text(encoding="utf-8-sig")
        return None
    return value if isinstance(value, str) else None


def _equals(asserts: list[Any], own: bool, notes: _Notes, detail: bool = False) -> list[str]:
    """Values of the ``equals`` assertions; every other assertion is noted as untranslated."""
    values = []
    for assertion in asserts:
        if isinstance(assertion, Mapping):
            if assertion.get("type") == "equals" and isinstance(assertion.get("value"), str | int | float):
                values.append(str(assertion["value"]).strip())
                continue
            if own and str(assertion.get("value", "")).startswith(_OWN_ASSERTION):
                continue  # the label-match assertion our own export writes
        notes.add(_describe(assertion, detail) + " not translated (the workbench scores by label match)")
    return values


def _missing(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in defaults.items() if k not in given}


def _describe(assertion: Any, detail: bool) -> str:
    """One line for an assertion; per-test ones without their value so that they group."""
    if not isinstance(assertion, Mapping):
        return f"assertion {_short(assertion)}"
    kind = assertion.get("type", "?")
    metric = f" (metric {assertion['metric']})" if assertion.get("metric") else ""
    value = f": {_short(assertion['value'])}" if detail and "value" in assertion else ""
    return f"assertion {kind}{metric}{value}"


# --------------------------------------------------------------------------- the import


def parse_config(path: str | Path, labels: Sequence[str] | None = None) -> ImportedConfig:
    """Read a promptfoo config; ``labels`` forces the label set when it cannot be inferred."""
    path = Path(path)
    data = _read_yaml(path, "promptfoo config")
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: a promptfoo config must be a YAML mapping with prompts, providers and tests")
    base = path.parent
    notes = _Notes()
    description = str(data.get("description") or "").strip()
    known = {"description", "prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions"}
    for key in data:
        if key not in known and key not in ("tags", "metadata", "derivedMetrics"):
            notes.add(f"{key}: not translated")

    cells, provider_params = _providers(data.get("providers", data.get("targets")), notes)
    raw_prompts = _raw_prompts(data.get("prompts"), base, path, notes)

    default = data.get("defaultTest") or {}
    if isinstance(default, str) and default.startswith("file://"):
        default = _read_yaml(_files(default, base, path)[0], "defaultTest file") or {}
    if not isinstance(default, Mapping):
        raise InputError(f"{path}: defaultTest must be a mapping")
    metadata = default.get("metadata") or {}
    own_labels = metadata.get(METADATA_LABELS) if isinstance(metadata, Mapping) else None
    own_column = metadata.get(METADATA_LABEL_COLUMN) if isinstance(metadata, Mapping) else None
    default_vars = default.get("vars") or {}
    default_asserts = list(default.get("assert") or [])
    for key in default:
        if key not in ("vars", "assert", "metadata", "options", "description"):
            notes.add(f"defaultTest {key}: not translated")
    tests = _tests(data.get("tests"), base, path, notes)
    for metric in data.get("derivedMetrics") or []:
        name = metric.get("name", "?") if isinstance(metric, Mapping) else "?"
        value = metric.get("value", "") if isinstance(metric, Mapping) else metric
        notes.add(
            f"derivedMetrics {name} = {_short(value, 50)}: not translated (the workbench computes its own metrics)"
        )

    options = data.get("evaluateOptions") or {}
    repeats = options.get("repeat", 1) if isinstance(options, Mapping) else 1
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"{path}: evaluateOptions.repeat must be a whole number of at least 1 (got {repeats!r})")
    for key in options if isinstance(options, Mapping) else ():
        if key != "repeat":
            notes.add(f"evaluateOptions.{key}: not translated")

    # Gold labels: an equals assertion, else a var named by the metadata, the JSON-schema enum or 'label'.
    enums = [e for e in (_response_enum({**provider_params, **p.config}) for p in raw_prompts) if e]
    candidates = [c for c in (own_column, *(name for name, _ in enums), "label") if isinstance(c, str)]
    default_equals = _equals(default_asserts, bool(own_labels), notes, detail=True)
    merged = [
        (test, {str(k): _var_text(v, base) for k, v in {**test.vars, **_missing(default_vars, test.vars)}.items()})
        for test in tests
    ]
    gold_var = next((c for c in candidates if any(c in values for _, values in merged)), None)
    rows: list[tuple[dict[str, str], str, int]] = []  # (vars, gold, row)
    from_var = True
    unlabelled = 0
    for test, values in merged:
        if any(v is None for v in values.values()):
            notes.add("vars that are lists, objects or non-text files are not translated; those tests skipped")
            continue
        texts = {k: v for k, v in values.items() if v is not None}
        equals = set(default_equals + _equals(test.asserts, bool(own_labels), notes))
        if len(equals) > 1:
            notes.add(f"{test.where}: several different equals assertions; test skipped")
        elif equals:
            rows.append((texts, equals.pop(), test.row))
            from_var = False
        elif gold_var is not None and texts.get(gold_var, "").strip():
            rows.append((texts, texts[gold_var].strip(), test.row))
        else:
            unlabelled += 1
    if unlabelled and rows:
        notes.add(f"{unlabelled} test(s) without a gold label were left out of the samples")
    elif unlabelled:
        notes.add("the tests have no gold label (an equals assertion, __expected or a label var): no samples")

    var_names = list(dict.fromkeys(name for values, _, _ in rows for name in values))
    if rows and from_var and gold_var is not None:
        label_column = gold_var
    elif isinstance(own_column, str) and own_column not in var_names:
        label_column = own_column
    else:
        label_column = next(c for c in ("label", "gold_label", "expected_label") if c not in var_names)
    samples = None
    if rows:
        columns = var_names if label_column in var_names else [*var_names, label_column]
        samples = SampleSet(
            f"{description or path.parent.name or path.stem}: promptfoo tests",
            label_column,
            tuple(columns),
            tuple(
                Sample(i, gold, {c: values.get(c, "") for c in columns if c != label_column}, row)
                for i, (values, gold, row) in enumerate(rows)
            ),
        )

    test_labels = list(dict.fromkeys(gold for _, gold, _ in rows))
    prompts = _finish_prompts(raw_prompts, provider_params, description, labels, own_labels, test_labels, path, notes)
    models = list(dict.fromkeys(model for model, _ in cells))
    temperatures = list(dict.fromkeys(t for _, t in cells))
    return ImportedConfig(
        prompts=prompts,
        samples=samples,
        models=models,
        temperatures=temperatures,
        repeats=repeats,
        untranslated=notes.lines(),
        label_column=label_column,
        cells=list(dict.fromkeys(cells)),
        description=description,
    )


def _finish_prompts(
    raw_prompts: list[_Prompt],
    provider_params: Mapping[str, Any],
    description: str,
    forced: Sequence[str] | None,
    own_labels: Any,
    test_labels: list[str],
    path: Path,
    notes: _Notes,
) -> list[PromptFile]:
    prompts: list[PromptFile] = []
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
        enum = _response_enum(params)
        labels = list(forced) if forced else (enum[1] if enum else None) or own_labels or test_labels
        if not labels:
            missing_labels.append(name)
            continue
        if enum and not forced:
            notes.add(
                f"prompt {name}: answers in JSON; the workbench finds the label anywhere in the answer text,"
                " so an answer whose other fields name another label counts as unparsed"
            )
        data = {"name": name, "description": description, "labels": labels, "messages": messages, "params": params}
        try:
            prompts.append(prompt_from_dict(data, f"{path} prompt {name}"))
        except InputError as exc:
            notes.add(f"prompt {name}: {exc}; not imported")
    if missing_labels:
        raise InputError(
            f"{path}: no classification labels found for prompt(s) {', '.join(missing_labels)} (no JSON-schema"
            " enum, equals assertion or __expected value names them); pass labels=... (--labels) to import anyway"
        )
    if not prompts:
        raise InputError(f"{path}: no prompt could be imported: " + "; ".join(notes.lines()[-3:]))
    return prompts


def import_plan(imported: ImportedConfig) -> dict[str, Any]:
    """A JSON-ready summary for the CLI: prompt files (as mappings), models, temperatures, repeats, labels."""
    return {
        "prompt_files": [prompt.to_dict() for prompt in imported.prompts],
        "models": list(imported.models),
        "temperatures": list(imported.temperatures),
        "repeats": imported.repeats,
        "label_column": imported.label_column,
        "samples": None if imported.samples is None else len(imported.samples),
        "untranslated": list(imported.untranslated),
    }
