"""promptfoo export: a ``promptfooconfig.yaml`` that re-runs the measurement in promptfoo.

The prompt becomes a chat-JSON prompt (promptfoo renders ``{{var}}`` inside each JSON string, so
sample text with quotes stays valid); literal text that nunjucks would read as a tag is wrapped in
``{% raw %}``. Each (model, temperature) cell is one ``openai:chat:MODEL`` provider; prompt params
go in the prompt's ``config``, which promptfoo merges into every provider's. The gold label sits in
each test's vars under the label column, scored by a ``javascript`` assertion that applies the
workbench's label rule; ``defaultTest.metadata`` records the labels and the label column so
:func:`workbench.promptfoo.parse_config` reads the file back to the same plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

from workbench.errors import InputError
from workbench.export.typescript import parse_label_js
from workbench.promptfile import PromptFile
from workbench.templating import VARIABLE

if TYPE_CHECKING:
    from workbench.datasets import SampleSet

METADATA_LABELS = "workbench_labels"
METADATA_LABEL_COLUMN = "workbench_label_column"
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
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if block else None)


_Dumper.add_representer(str, _str)


def to_nunjucks(content: str, where: str) -> str:
    """Workbench message text -> promptfoo template with the same meaning."""
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
        parts.append(match.group(0))
        position = match.end()
    parts.append(_literal(content[position:]))
    return "".join(parts)


def _literal(text: str) -> str:
    """Text nunjucks must not interpret, inside ``{% raw %}``.

    Nunjucks nests raw blocks, so a ``{% raw %}`` or ``{% endraw %}`` in the text itself would
    unbalance them: the block is closed and reopened right after every ``{%``, which leaves each
    ``{%`` of the text where no tag can start.
    """
    if "{" not in text and "}" not in text:
        return text
    return "{% raw %}" + text.replace("{%", "{%{% endraw %}{% raw %}") + "{% endraw %}"


def _js_string(value: object) -> str:
    """A JSON literal with braces escaped: promptfoo renders assertion values with nunjucks first."""
    return json.dumps(value, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")


def assertion_js(labels: Sequence[str], label_column: str) -> str:
    """Body of the promptfoo ``javascript`` assertion: the workbench label rule vs the gold var."""
    return (
        f"{ASSERTION_MARK} the one label the answer names must equal the gold label.\n"
        f"const labels = {_js_string(list(labels))};\n"
        + parse_label_js()
        + 'const answer = typeof output === "string" ? output : JSON.stringify(output);\n'
        + f"return parseLabel(answer, labels) === String(context.vars[{_js_string(label_column)}]);\n"
    )


def _provider(model: str, temperature: float | None) -> dict[str, Any]:
    if not isinstance(model, str) or not model.strip():
        raise InputError("promptfoo export: a model name is empty")
    entry: dict[str, Any] = {"id": f"openai:chat:{model}"}
    if temperature is None:
        entry["label"] = model
    else:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise InputError(f"promptfoo export: temperature must be a number or None (got {temperature!r})")
        entry["label"] = f"{model} @ temperature {temperature}"
        entry["config"] = {"temperature": temperature}
    return entry


def render_promptfoo(
    prompt: PromptFile,
    cells: Sequence[tuple[str, float | None]],
    samples: SampleSet | None = None,
    label_column: str | None = None,
    *,
    header: Sequence[str] = (),
) -> str:
    """promptfooconfig.yaml text for one prompt over several (model, temperature) cells."""
    if not cells:
        raise InputError("promptfoo export: choose at least one (model, temperature)")
    label_column = label_column or (samples.label_column if samples is not None else "label")
    if label_column in prompt.variables:
        raise InputError(f"promptfoo export: the label column {label_column!r} is also a variable of the prompt")
    where = f"prompt {prompt.name!r}"
    messages = [
        {**message, "content": to_nunjucks(message["content"], f"{where}, message {number}")}
        for number, message in enumerate(prompt.messages, 1)
    ]
    entry: dict[str, Any] = {"label": prompt.name, "raw": json.dumps(messages, ensure_ascii=False, indent=2)}
    if prompt.params:
        entry["config"] = dict(prompt.params)
    providers = []
    for model, temperature in dict.fromkeys((m, t) for m, t in cells):
        providers.append(_provider(model, temperature))
    config: dict[str, Any] = {}
    if prompt.description:
        config["description"] = prompt.description
    config["prompts"] = [entry]
    config["providers"] = providers
    config["defaultTest"] = {
        "metadata": {METADATA_LABELS: list(prompt.labels), METADATA_LABEL_COLUMN: label_column},
        "assert": [{"type": "javascript", "metric": "accuracy", "value": assertion_js(prompt.labels, label_column)}],
    }
    if samples is not None:
        missing = [name for name in prompt.variables if name not in samples.variable_names]
        if missing:
            raise InputError(f"promptfoo export: the samples have no column {missing[0]!r} that the prompt needs")
        config["tests"] = [
            {"vars": {**{name: s.variables.get(name, "") for name in prompt.variables}, label_column: s.label}}
            for s in samples.samples
        ]
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    lines = [*header, "Run with: npx promptfoo@latest eval -c promptfooconfig.yaml"]
    if samples is not None and any("{{" in value for s in samples.samples for value in s.variables.values()):
        lines.append("Note: promptfoo resolves {{name}} inside var values; samples containing such text may differ.")
    return "".join(f"# {line}\n" for line in lines) + text
