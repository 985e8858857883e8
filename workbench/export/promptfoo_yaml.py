"""promptfoo export: a ``promptfooconfig.yaml`` that re-runs the measurement in promptfoo.

The prompt becomes a chat-JSON prompt (promptfoo renders ``{{var}}`` inside each JSON string, so
sample text with quotes stays valid). Each (model, temperature) cell is one ``openai:chat:MODEL``
provider whose ``config`` is ``omitDefaults: true`` (promptfoo adds no ``max_tokens: 1024`` or
``temperature: 0`` of its own) and ``passthrough``: the measured request's settings (temperature,
the prompt's params), which promptfoo copies into the request body as they are, whatever it
believes about the model.

Every sample text reaches the model literally. What promptfoo does to a config before sending
(read from its source, pinned by the real-CLI test in ``tests/test_promptfoo_cli.py``):

- it reads the YAML with the YAML 1.2 core schema (js-yaml): text that would read as a number,
  boolean or null there is quoted;
- it renders ``{{ env.NAME }}`` anywhere in the config from the environment, replaces ``{{name}}``
  inside a var's text with the var ``name`` (up to five rounds), loads a var starting with
  ``file://`` or ``package:`` and drops one trailing line break. A variable with any such value is
  written as ``{parts: [...]}``, its text cut wherever ``{{`` occurs, and the prompt joins the parts
  back (``{{ text.parts | join('') }}``): no string in the file then holds ``{{``;
- literal ``{`` in the prompt that nunjucks could read as a tag opener is written ``{{ '{' }}``.

The gold label is not a var (promptfoo would substitute it into ``{{label}}`` inside a sample): it
sits in each test's ``metadata``, read by a ``javascript`` assertion that applies the workbench's
label rule. ``defaultTest.metadata`` records the labels and the label column so
:func:`workbench.promptfoo.parse_config` reads the file back to the same plan. The pass-rate
threshold (measured accuracy minus a margin) goes in the config's ``env`` as
``PROMPTFOO_PASS_RATE_THRESHOLD``, so ``promptfoo eval`` exits 0 unless the pass rate drops below it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from workbench.chat import request_body
from workbench.errors import InputError
from workbench.export.jsyaml import resolves_to_text
from workbench.export.typescript import parse_label_js
from workbench.promptfile import PromptFile
from workbench.templating import VARIABLE

if TYPE_CHECKING:
    from workbench.datasets import SampleSet
    from workbench.pricing import ModelInfo

METADATA_LABELS = "workbench_labels"
METADATA_LABEL_COLUMN = "workbench_label_column"
METADATA_GOLD = "workbench_gold"
PARTS = "parts"  # key of a variable written as {parts: [...]}
# promptfoo 0.122+ needs Node 22.22+; 0.121.20 is the last release that also runs on Node 20.20+.
PROMPTFOO_VERSION = "0.121.20"
RUN_COMMAND = f"npx promptfoo@{PROMPTFOO_VERSION} eval -c promptfooconfig.yaml"
THRESHOLD_ENV = "PROMPTFOO_PASS_RATE_THRESHOLD"
ASSERTION_MARK = "// Workbench scoring:"  # first line of our assertion, so the importer can recognise it
SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Dumper(yaml.SafeDumper):
    """Multi-line plain text as ``|`` blocks; anything with unusual characters stays quoted."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    block = (
        "\n" in data
        and data.strip() != ""
        and all(ch == "\n" or ch.isprintable() for ch in data)
        and data == data.rstrip(" ")
    )
    # PyYAML quotes what YAML 1.1 would not read as text; promptfoo reads YAML 1.2 (0o17, 1e3, .5 ...).
    style = "|" if block else None if resolves_to_text(data) else "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_nunjucks(content: str, where: str, joined: Collection[str] = ()) -> str:
    """Workbench message text -> promptfoo template with the same meaning.

    A variable named in ``joined`` is written as ``{PARTS: [...]}`` in the tests, so the template
    joins its parts back together.
    """
    parts: list[str] = []
    position = 0
    for match in VARIABLE.finditer(content):
        parts.append(_literal(content[position : match.start()]))
        name = match.group(1)
        if not SIMPLE_NAME.match(name):
            raise InputError(
                f"{where}: variable {{{{{name}}}}} cannot be written in promptfoo (nunjucks reads '.' and '-' as"
                " expressions); rename it to letters, digits and '_'"
            )
        parts.append(f"{{{{ {name}.{PARTS} | join('') }}}}" if name in joined else match.group(0))
        position = match.end()
    parts.append(_literal(content[position:]))
    return "".join(parts)


def _literal(text: str) -> str:
    """Text nunjucks must not interpret: every ``{`` that could open a tag becomes ``{{ '{' }}``.

    That is a ``{`` before ``{``, ``%`` or ``#``, and one at the end (a variable tag may follow).
    No ``{{`` of the text is left in the file, so promptfoo's ``{{ env.NAME }}`` pass finds none.
    """
    return re.sub(r"\{(?=[{%#]|\Z)", "{{ '{' }}", text)


def needs_parts(value: str) -> bool:
    """Whether promptfoo would change this var text (see the module docstring)."""
    return "{{" in value or value.startswith(("file://", "package:")) or value.endswith("\n")


def text_parts(value: str) -> list[str]:
    """``value`` cut between the two braces of every ``{{``: no part holds ``{{``; they join to ``value``."""
    parts, start = [], 0
    for position in range(1, len(value)):
        if value[position - 1] == "{" and value[position] == "{":
            parts.append(value[start:position])
            start = position
    return [*parts, value[start:]]


def _js_string(value: object) -> str:
    """A JSON literal with braces escaped: promptfoo renders assertion values with nunjucks first."""
    return json.dumps(value, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")


def assertion_js(labels: Sequence[str]) -> str:
    """Body of the promptfoo ``javascript`` assertion: the workbench label rule vs the test's gold label.

    The gold label is read from the test's metadata (never from its vars, which promptfoo substitutes
    into ``{{name}}`` inside sample text).
    """
    return (
        f"{ASSERTION_MARK} the one label the answer names must equal the gold label.\n"
        f"const labels = {_js_string(list(labels))};\n"
        + parse_label_js()
        + 'const answer = typeof output === "string" ? output : JSON.stringify(output);\n'
        + f"return parseLabel(answer, labels) === String(context.test.metadata[{_js_string(METADATA_GOLD)}]);\n"
    )


def _provider(
    prompt: PromptFile,
    model: str,
    temperature: float | None,
    effort: str | None = None,
    info: ModelInfo | None = None,
) -> dict[str, Any]:
    """One promptfoo provider sending exactly the body the workbench measured (the cell's effort and
    the model's catalog entry decide, e.g., ``max_completion_tokens`` and ``reasoning_effort``)."""
    if not isinstance(model, str) or not model.strip():
        raise InputError("promptfoo export: a model name is empty")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)):
        raise InputError(f"promptfoo export: temperature must be a number or None (got {temperature!r})")
    body = request_body(prompt, model, temperature, None, effort, info)
    settings = {key: value for key, value in body.items() if key not in ("model", "messages")}
    label = (
        model
        + (f" @ effort {effort}" if effort else "")
        + ("" if temperature is None else f" @ temperature {temperature}")
    )
    return {"id": f"openai:chat:{model}", "label": label, "config": {"omitDefaults": True, "passthrough": settings}}


def run_lines(threshold: float | None) -> list[str]:
    """Header lines: how to run the config and what its exit code means."""
    lines = [
        f"Run with: {RUN_COMMAND}",
        f"(promptfoo {PROMPTFOO_VERSION} runs on Node 20.20+ and 22.22+; later versions need Node 22.22+)",
    ]
    if threshold is None:
        return [*lines, "promptfoo exits 100 when any test fails (no measured accuracy to set a pass-rate threshold)."]
    return [
        *lines,
        f"promptfoo exits 100 when the pass rate is below {_percent_text(threshold)}"
        f" ({THRESHOLD_ENV} in env: the measured accuracy minus the margin).",
    ]


def _percent_text(fraction: float) -> str:
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def render_promptfoo(
    prompt: PromptFile,
    cells: Sequence[tuple[str, float | None] | tuple[str, float | None, str | None]],
    samples: SampleSet | None = None,
    label_column: str | None = None,
    *,
    header: Sequence[str] = (),
    threshold: float | None = None,
    lookup: Callable[[str], ModelInfo | None] | None = None,
) -> str:
    """promptfooconfig.yaml text for one prompt over several (model, temperature[, reasoning effort]) cells;
    ``lookup`` gives each model's catalog entry, so every provider sends the body the sweep sent.

    ``threshold`` (a fraction, e.g. the measured accuracy minus a margin) becomes promptfoo's
    pass-rate threshold; without it promptfoo fails the run on any failed test.
    """
    if not cells:
        raise InputError("promptfoo export: choose at least one (model, temperature)")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold)
    ):
        raise InputError(f"promptfoo export: the pass-rate threshold must be a number (got {threshold!r})")
    label_column = label_column or (samples.label_column if samples is not None else "label")
    if label_column in prompt.variables:
        raise InputError(f"promptfoo export: the label column {label_column!r} is also a variable of the prompt")
    if samples is not None:
        missing = [name for name in prompt.variables if name not in samples.variable_names]
        if missing:
            raise InputError(f"promptfoo export: the samples have no column {missing[0]!r} that the prompt needs")
    joined = {
        name
        for name in prompt.variables
        if samples is not None and any(needs_parts(s.variables.get(name, "")) for s in samples.samples)
    }
    where = f"prompt {prompt.name!r}"
    messages = [
        {**message, "content": to_nunjucks(message["content"], f"{where}, message {number}", joined)}
        for number, message in enumerate(prompt.messages, 1)
    ]
    entry: dict[str, Any] = {"label": prompt.name, "raw": json.dumps(messages, ensure_ascii=False, indent=2)}
    providers = []
    for model, temperature, effort in dict.fromkeys((c[0], c[1], c[2] if len(c) > 2 else None) for c in cells):
        providers.append(_provider(prompt, model, temperature, effort, lookup(model) if lookup else None))
    config: dict[str, Any] = {}
    if prompt.description:
        config["description"] = prompt.description
    if threshold is not None:
        config["env"] = {THRESHOLD_ENV: f"{max(0.0, min(1.0, threshold)) * 100:.4f}".rstrip("0").rstrip(".")}
    config["prompts"] = [entry]
    config["providers"] = providers
    config["defaultTest"] = {
        "metadata": {METADATA_LABELS: list(prompt.labels), METADATA_LABEL_COLUMN: label_column},
        "assert": [{"type": "javascript", "metric": "accuracy", "value": assertion_js(prompt.labels)}],
    }
    if samples is not None:
        config["tests"] = [
            {
                "vars": {
                    name: {PARTS: text_parts(value)} if name in joined else value
                    for name, value in ((name, s.variables.get(name, "")) for name in prompt.variables)
                },
                "metadata": {METADATA_GOLD: s.label},
            }
            for s in samples.samples
        ]
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    lines = [*header, *run_lines(threshold)]
    return "".join(f"# {line}\n" for line in lines) + text
