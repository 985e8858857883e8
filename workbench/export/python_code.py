"""Python exports: a self-contained classifier script/module, and a pytest regression test.

Both embed the request body from :func:`workbench.chat.request_body` (what the sweep sends) and the source of
:mod:`workbench.scoring` (one implementation of the label rule, copied rather than re-written), so
production code parses answers exactly as the workbench scored them.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from types import ModuleType
from typing import TYPE_CHECKING, Any

from workbench import scoring
from workbench.errors import InputError
from workbench.export.spec import ExportSpec, comment_block, one_line
from workbench.templating import VARIABLE

if TYPE_CHECKING:
    from workbench.datasets import SampleSet


def _string(text: str) -> str:
    """A double-quoted Python literal for ``text`` (repr's escaping, with the quote style swapped)."""
    literal = repr(text)
    if literal[0] == '"':
        return literal
    # In a single-quoted repr every ' is escaped and no " is: swap which one needs the backslash.
    return '"' + literal[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'


def _source(value: Any, indent: int = 0) -> str:
    """JSON-like data as Python source, laid out as ``ruff format`` would: flat if it fits, else one item a line."""
    if isinstance(value, str):
        flat = _string(value)
        if indent == 0 or indent + len(flat) <= 100 or "\n" not in value.rstrip("\n"):
            return flat
        # Long multi-line text: one implicitly concatenated piece per line, as a reviewer would write it.
        pieces = [_string(piece) for piece in re.findall(r"[^\n]*\n|[^\n]+", value)]
        return ("\n" + " " * indent).join(pieces)
    if not isinstance(value, dict | list | tuple):
        return repr(value)
    if isinstance(value, dict):
        items = [f"{_source(k)}: {_source(v, indent + 4)}" for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        items = [_source(v, indent + 4) for v in value]
        opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
    if not items:
        return opening + closing
    single = "," if isinstance(value, tuple) and len(items) == 1 else ""
    flat = opening + ", ".join(items) + single + closing
    if "\n" not in flat and indent + len(flat) <= 100:
        return flat
    pad = " " * (indent + 4)
    return opening + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + closing


def literal(value: Any) -> str:
    """Python source for a JSON-like value, checked to evaluate back to the same value."""
    text = _source(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise InputError(f"export: cannot write {value!r:.60} as a Python literal (NaN or an unusual type?)")
    return text


def scoring_parts() -> tuple[list[str], str]:
    """workbench/scoring.py split into its top-level import statements and the rest (docstring dropped)."""
    return module_parts(scoring)


def module_parts(module: ModuleType) -> tuple[list[str], str]:
    """A stdlib-only module's source split into its top-level import statements and the rest (docstring dropped)."""
    source = inspect.getsource(module)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    imports: list[str] = []
    for node in ast.parse(source).body:
        doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if doc or isinstance(node, ast.Import | ast.ImportFrom):
            span = range(node.lineno - 1, node.end_lineno or node.lineno)
            if not doc:
                imports.append("".join(lines[i] for i in span).strip())
            drop.update(span)
    body = "".join(line for number, line in enumerate(lines) if number not in drop)
    return imports, body.strip("\n") + "\n"


def scoring_source() -> str:
    """The code of workbench/scoring.py without its docstring and imports (those join the script's)."""
    return scoring_parts()[1]


def _imports(*names: str) -> str:
    """The import block: the parser's imports merged with ``names``; pytest and openai after the stdlib."""
    stdlib = {f"import {name}" for name in names if name not in ("openai", "pytest")}
    stdlib.update(scoring_parts()[0])
    others = ["import pytest"] if "pytest" in names else []
    others.append("from openai import OpenAI")
    return "\n".join(sorted(stdlib)) + "\n\n" + "\n".join(others) + "\n"


_FUNCTIONS = '''

def render_messages(**variables):
    """The prompt's messages with each {{name}} replaced by str(value), literally, in one pass."""

    def substitute(match):
        name = match.group(1)
        if name not in variables:
            needed = ", ".join(VARIABLES) or "none"
            raise KeyError(f"missing variable {name!r}: this prompt needs {needed}")
        value = variables[name]
        return "" if value is None else str(value)

    return [{**message, "content": _VARIABLE.sub(substitute, message["content"])} for message in REQUEST["messages"]]


def request_body(**variables):
    """The exact chat-completions request the workbench measured, for these variables."""
    return {**REQUEST, "messages": render_messages(**variables)}


_client = None


def client():
    """One OpenAI client, made on first use (reads OPENAI_API_KEY and OPENAI_BASE_URL)."""
    global _client
    if _client is None:
        _client = OpenAI()
    return _client


def classify(**variables):
    """Ask the model and return one of LABELS, or "unparsed" when the answer names none or several."""
    response = client().chat.completions.create(**request_body(**variables))
    return parse_label(response.choices[0].message.content, LABELS)
'''

# The script's entry point (one input per line in, one label per line out): shared with the cascade export.
MAIN_FUNCTION = '''

def main():
    """One input per line (JSON objects per line when the prompt has several variables) -> one label per line."""
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    for number, line in enumerate(sys.stdin, start=1):
        line = line.rstrip("\\r\\n")
        if len(VARIABLES) == 1:
            variables = {VARIABLES[0]: line}
        elif not line.strip():
            continue
        else:
            variables = json.loads(line)
            if not isinstance(variables, dict):
                sys.exit(f"line {number}: expected a JSON object with {', '.join(VARIABLES)}")
        print(classify(**variables), flush=True)


if __name__ == "__main__":
    main()
'''

_TEST = """

def test_accuracy_holds():
    if not os.environ.get("OPENAI_API_KEY"):
        pytest.skip("OPENAI_API_KEY is not set: this test calls the model")
    misses = []
    for number, (variables, gold) in enumerate(SAMPLES):
        got = classify(**variables)
        if got != gold:
            misses.append(f"sample {number}: expected {gold!r}, got {got!r}")
    accuracy = (len(SAMPLES) - len(misses)) / len(SAMPLES)
    assert accuracy >= THRESHOLD, (
        f"accuracy {accuracy:.3f} on {len(SAMPLES)} samples is below {THRESHOLD:.3f} "
        f"(measured {MEASURED_ACCURACY}, margin {MARGIN}); first misses: {misses[:5]}"
    )
"""


def _pattern(pattern: str) -> str:
    """A regular expression as a raw string literal when it can be one."""
    return f'r"{pattern}"' if '"' not in pattern and not pattern.endswith("\\") else _string(pattern)


def _constants(spec: ExportSpec) -> str:
    prompt = spec.prompt
    return (
        f"LABELS = {literal(list(prompt.labels))}\n"
        f"VARIABLES = {literal(prompt.variables)}\n"
        "# The request the workbench measured; render_messages() fills the {{variables}} in.\n"
        f"REQUEST = {literal(spec.body())}\n"
        f"_VARIABLE = re.compile({_pattern(VARIABLE.pattern)})\n"
    )


def _parser() -> str:
    return (
        "\n# ---- label parser: workbench/scoring.py, copied verbatim (imports merged above) ----\n\n"
        + scoring_source()
        + "\n\n# ---- end of label parser ----\n\n"
    )


def render_python(spec: ExportSpec) -> str:
    prompt = spec.prompt
    names = prompt.variables
    usage = f"classify({', '.join(f'{v}=...' for v in names)})"
    stdin = (
        "one input per line on stdin, one label per line on stdout"
        if len(names) == 1
        else "one JSON object per line on stdin (keys: " + ", ".join(names) + "), one label per line on stdout"
    )
    doc = (
        f'"""Classifier: prompt {one_line(prompt.name)!r} on {one_line(spec.model)!r}.\n\n'
        f"As a module: from this file import classify; {usage}\n"
        f"As a script: {stdin}\n"
        'Needs the openai package (pip install openai). Returns one of LABELS or "unparsed".\n"""\n\n'
    )
    return (
        "#!/usr/bin/env python3\n"
        + comment_block(spec, "#")
        + doc
        + _imports("json", "re", "sys", "openai")
        + _parser()
        + _constants(spec)
        + _FUNCTIONS
        + MAIN_FUNCTION
    )


def render_pytest(spec: ExportSpec, samples: SampleSet | None, margin: float = 0.05) -> str:
    """A pytest file asserting accuracy >= measured accuracy - margin on the embedded samples."""
    if samples is None or not len(samples):
        raise InputError("pytest export: needs the labeled samples to test against")
    if spec.accuracy is None:
        raise InputError("pytest export: needs the measured accuracy to set the threshold")
    if not isinstance(margin, int | float) or not math.isfinite(margin):
        raise InputError(f"pytest export: margin must be a number (got {margin!r})")
    names = spec.prompt.variables
    missing = [name for name in names if name not in samples.variable_names]
    if missing:
        raise InputError(f"pytest export: the samples have no column {missing[0]!r} that the prompt needs")
    cases = [({name: s.variables.get(name, "") for name in names}, s.label) for s in samples.samples]
    threshold = round(spec.accuracy - margin, 6)
    doc = (
        f'"""Regression test: prompt {one_line(spec.prompt.name)!r} on {one_line(spec.model)!r} must stay'
        f" at least {threshold} accurate on {len(cases)} samples.\n\n"
        'Calls the model: skipped unless OPENAI_API_KEY is set. Run with: pytest this_file.py\n"""\n\n'
    )
    return (
        comment_block(spec, "#")
        + doc
        + _imports("os", "re", "pytest", "openai")
        + _parser()
        + _constants(spec)
        + _FUNCTIONS
        + f"\n\nSAMPLES = {literal(cases)}\n"
        + f"MEASURED_ACCURACY = {spec.accuracy!r}\n"
        + f"MARGIN = {margin!r}\n"
        + f"THRESHOLD = {threshold!r}\n"
        + _TEST
    )
