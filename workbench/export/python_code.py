"""Python exports: a self-contained classifier script/module, and a pytest regression test.

Both embed the request body from :func:`~workbench.export.request.request_body` and the source of
:mod:`workbench.scoring` (one implementation of the label rule, copied rather than re-written), so
production code parses answers exactly as the workbench scored them.
"""

from __future__ import annotations

import ast
import inspect
import math
import pprint
from typing import TYPE_CHECKING, Any

from workbench import scoring
from workbench.errors import InputError
from workbench.export.request import request_body
from workbench.export.spec import ExportSpec, comment_block, one_line
from workbench.templating import VARIABLE

if TYPE_CHECKING:
    from workbench.datasets import SampleSet


def literal(value: Any) -> str:
    """Python source for a JSON-like value, checked to evaluate back to the same value."""
    text = pprint.pformat(value, width=100, sort_dicts=False)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise InputError(f"export: cannot write {value!r:.60} as a Python literal (NaN or an unusual type?)")
    return text


def scoring_source() -> str:
    """The source of workbench/scoring.py without its module docstring."""
    source = inspect.getsource(scoring)
    tree = ast.parse(source)
    first = tree.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines = source.splitlines(keepends=True)
        source = "".join(lines[first.end_lineno :])
    return source.strip("\n") + "\n"


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

_MAIN = '''

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


def _constants(spec: ExportSpec) -> str:
    prompt = spec.prompt
    return (
        f"LABELS = {literal(list(prompt.labels))}\n"
        f"VARIABLES = {literal(prompt.variables)}\n"
        "# The request the workbench measured; render_messages() fills the {{variables}} in.\n"
        f"REQUEST = {literal(request_body(prompt, spec.model, spec.temperature))}\n"
        f"_VARIABLE = re.compile({VARIABLE.pattern!r})\n"
    )


def _parser() -> str:
    return (
        "\n# ---- label parser: workbench/scoring.py, copied verbatim ----\n"
        + scoring_source()
        + "# ---- end of label parser ----\n\n"
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
        + "import json\nimport re\nimport sys\n\nfrom openai import OpenAI\n"
        + _parser()
        + _constants(spec)
        + _FUNCTIONS
        + _MAIN
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
        + "import os\nimport re\n\nimport pytest\nfrom openai import OpenAI\n"
        + _parser()
        + _constants(spec)
        + _FUNCTIONS
        + f"\n\nSAMPLES = {literal(cases)}\n"
        + f"MEASURED_ACCURACY = {spec.accuracy!r}\n"
        + f"MARGIN = {margin!r}\n"
        + f"THRESHOLD = {threshold!r}\n"
        + _TEST
    )
