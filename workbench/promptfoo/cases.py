"""promptfoo tests -> labeled samples: vars, gold labels and the assertions that do not translate."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.datasets import MAX_FIELD, Sample, SampleSet
from workbench.errors import InputError
from workbench.export.jsyaml import scalar_text
from workbench.export.promptfoo_yaml import ASSERTION_MARK, METADATA_GOLD, PARTS
from workbench.promptfoo.reading import Notes, read_yaml, referenced_file, resolve_files, short

csv.field_size_limit(MAX_FIELD)

_EXPECTED = re.compile(
    r"^(not-)?(equals|i?contains(-any|-all)?|regex|starts-with|is-json|contains-json|javascript|fn|eval|python|"
    r"file|grade|llm-rubric|model-graded-\w+|factuality|similar|levenshtein|rouge-n|bleu|answer-relevance|"
    r"context-\w+|cost|latency|perplexity\w*|is-valid-\w+|is-sql|contains-sql|is-xml|contains-xml)(\([^)]*\))?:",
)


@dataclass
class Case:
    """One promptfoo test before translation: where it came from, its vars and assertions."""

    where: str
    vars: dict[str, Any]
    asserts: list[Any]
    row: int = 0  # CSV row (header = 1) or JSONL line of a test file; 0 for inline tests
    gold: str | None = None  # the gold label our own export keeps in the test's metadata
    transformed: bool = False  # options.transform: assertions see a transformed answer, not the model's


def expected_assertion(value: str) -> dict[str, Any]:
    """An ``__expected`` cell as an assertion: ``type:value``, or a plain value meaning ``equals``."""
    if value in ("is-json", "contains-json", "is-xml", "contains-xml", "is-sql", "is-valid-openai-tools-call"):
        return {"type": value}
    match = _EXPECTED.match(value)
    if match:
        return {"type": value[: match.end() - 1], "value": value[match.end() :]}
    return {"type": "equals", "value": value}


def _csv_tests(path: Path, notes: Notes) -> list[Case]:
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
                asserts.append(expected_assertion(value))
            elif key.startswith("__") and key != "__description" and value:
                notes.add(f"{path.name}: column {key} not translated")
        variables = {k: v for k, v in row.items() if not k.startswith("__")}
        tests.append(Case(f"{path.name} row {start}", variables, asserts, start))
    return tests


def _test_file(ref: str, base: Path, config: Path, notes: Notes) -> list[Case]:
    tests: list[Case] = []
    for path in resolve_files(ref, base, config):
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
            loaded = read_yaml(path, "test file")
            items = loaded if isinstance(loaded, list) else [loaded]
            tests.extend(_inline_test(item, f"{path.name} test {k}", notes) for k, item in enumerate(items, 1))
        else:
            notes.add(f"tests {ref}: {suffix or 'this'} files are not imported (use CSV, YAML, JSON or JSONL)")
    return tests


def _inline_test(item: Any, where: str, notes: Notes, row: int = 0) -> Case:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: a test must be a mapping with vars and assert")
    for key in item:
        if key not in ("vars", "assert", "description", "metadata", "options", "threshold"):
            notes.add(f"test field {key}: not translated")
    transformed = read_options(item.get("options"), "test", notes)
    variables = item.get("vars") or {}
    if not isinstance(variables, Mapping):
        raise InputError(f"{where}: vars must be a mapping")
    metadata = item.get("metadata")
    gold = metadata.get(METADATA_GOLD) if isinstance(metadata, Mapping) else None
    asserts = list(item.get("assert") or [])
    return Case(where, dict(variables), asserts, row, gold if isinstance(gold, str) else None, transformed)


def read_options(options: Any, where: str, notes: Notes) -> bool:
    """Note a test's (or defaultTest's) ``options``; True when they transform the answer before assertions."""
    if not isinstance(options, Mapping):
        return False
    transformed = False
    for key, value in options.items():
        if key in ("transform", "postprocess"):
            transformed = True
            notes.add(
                f"{where} options.{key} {short(value, 40)}: not translated (the workbench scores the model's own"
                " answer); equals assertions after it are not used as gold labels"
            )
        elif key not in ("provider", "rubricPrompt", "disableVarExpansion", "disableConversationVar"):
            notes.add(f"{where} options.{key}: not translated")
    return transformed


def read_cases(raw: Any, base: Path, config: Path, notes: Notes) -> list[Case]:
    if raw is None:
        return []
    tests: list[Case] = []
    for number, item in enumerate(raw if isinstance(raw, list) else [raw], 1):
        if isinstance(item, str) and item.startswith("file://"):
            tests.extend(_test_file(item, base, config, notes))
        elif isinstance(item, str):
            notes.add(f"tests {short(item)}: only file:// CSV, YAML, JSON and JSONL tests are imported")
        else:
            tests.append(_inline_test(item, f"{config.name} test {number}", notes))
    return tests


def _var_text(value: Any, base: Path, config: Path) -> str | None:
    """A var as the text promptfoo would insert, or None when it cannot be one sample value."""
    text = scalar_text(value)  # numbers as JavaScript writes them, true/false, null as ""
    if text is not None and not isinstance(value, str):
        return text
    if isinstance(value, Mapping) and set(value) == {PARTS} and isinstance(value[PARTS], list):
        parts = value[PARTS]  # the export's form of a text promptfoo must not change; the prompt joins it
        return "".join(parts) if all(isinstance(p, str) for p in parts) else None
    if isinstance(value, str) and value.startswith("file://"):
        if Path(value).suffix.lower() not in (".txt", ".md", ".html", ".xml", ".csv"):
            return None
        return referenced_file(value[len("file://") :], base, config, value).read_text(encoding="utf-8-sig")
    return value if isinstance(value, str) else None


def equals_values(
    asserts: list[Any], own: bool, notes: Notes, detail: bool = False, transformed: bool = False
) -> list[str]:
    """Values of the ``equals`` assertions that compare the model's own answer (none after a transform);
    every other assertion is noted as untranslated."""
    values = []
    for assertion in asserts:
        if isinstance(assertion, Mapping):
            if assertion.get("type") == "equals" and assertion.get("transform") is not None:
                notes.add(
                    f"assertion equals with transform {short(assertion['transform'], 40)}: not translated (it"
                    " compares a transformed answer); not used as a gold label"
                )
                continue
            if assertion.get("type") == "equals" and isinstance(assertion.get("value"), str | int | float):
                if transformed:
                    continue  # compares the transformed answer (noted with the transform)
                values.append(str(scalar_text(assertion["value"])).strip())
                continue
            if own and str(assertion.get("value", "")).startswith(ASSERTION_MARK):
                continue  # the label-match assertion our own export writes
        notes.add(_describe(assertion, detail) + " not translated (the workbench scores by label match)")
    return values


def _missing(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in defaults.items() if k not in given}


def _describe(assertion: Any, detail: bool) -> str:
    """One line for an assertion; per-test ones without their value so that they group."""
    if not isinstance(assertion, Mapping):
        return f"assertion {short(assertion)}"
    kind = assertion.get("type", "?")
    metric = f" (metric {assertion['metric']})" if assertion.get("metric") else ""
    value = f": {short(assertion['value'])}" if detail and "value" in assertion else ""
    return f"assertion {kind}{metric}{value}"


def gold_samples(
    tests: list[Case],
    default_vars: Mapping[str, Any],
    default_equals: list[str],
    default_transformed: bool,
    candidates: list[str],
    own_labels: Any,
    own_column: Any,
    base: Path,
    set_name: str,
    notes: Notes,
    config: Path,
) -> tuple[SampleSet | None, str]:
    """The labeled samples of the tests and their label column.

    A test's gold label is its ``equals`` value, else the first candidate var it has (the column
    our own export names, the JSON-schema enum's property, ``label``). The label column is that
    var when every gold came from it, else ``label`` (or a free variant of it).
    """
    merged = [
        (
            test,
            {str(k): _var_text(v, base, config) for k, v in {**test.vars, **_missing(default_vars, test.vars)}.items()},
        )
        for test in tests
    ]
    gold_var = next((c for c in candidates if any(c in values for _, values in merged)), None)
    rows: list[tuple[dict[str, str], str, int]] = []  # (vars, gold, row)
    from_var = True
    unlabelled = 0
    for test, values in merged:
        if any(v is None for v in values.values()):
            notes.add(
                "vars that are lists, objects, YAML dates (promptfoo sends '[object Object]') or non-text files"
                " are not translated; those tests skipped"
            )
            continue
        texts = {k: v for k, v in values.items() if v is not None}
        transformed = default_transformed or test.transformed
        own_equals = equals_values(test.asserts, bool(own_labels), notes, transformed=transformed)
        equals = set(([] if transformed else default_equals) + own_equals)
        if test.gold is not None and own_labels and not equals:
            rows.append((texts, test.gold, test.row))
            from_var = False
        elif len(equals) > 1:
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
            set_name,
            label_column,
            tuple(columns),
            tuple(
                Sample(i, gold, {c: values.get(c, "") for c in columns if c != label_column}, row)
                for i, (values, gold, row) in enumerate(rows)
            ),
        )

    return samples, label_column
