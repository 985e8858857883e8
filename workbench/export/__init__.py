"""Ship the winner: one chosen cell (prompt version x model x temperature) as code.

``render(spec, fmt)`` writes a Python script/module, a TypeScript module, a curl command, the JSON
request body, a promptfoo config or a pytest regression test. Every format builds its request with
:func:`request_body`, the same function the runner uses, so the shipped code sends exactly the
request that was measured; the Python formats embed :mod:`workbench.scoring` itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from workbench.chat import request_body
from workbench.errors import InputError
from workbench.export.promptfoo_yaml import render_promptfoo
from workbench.export.python_code import render_pytest, render_python
from workbench.export.shell import render_curl, render_json
from workbench.export.spec import ExportSpec, header_lines
from workbench.export.typescript import render_typescript

if TYPE_CHECKING:
    from workbench.datasets import SampleSet

__all__ = ["FORMATS", "ExportSpec", "filename", "render", "render_promptfoo", "request_body"]

FORMATS = ("python", "typescript", "curl", "json", "promptfoo", "pytest")
_SUFFIX = {"python": ".py", "typescript": ".ts", "curl": ".sh", "json": ".json"}


def render(
    spec: ExportSpec,
    fmt: str,
    samples: SampleSet | None = None,
    margin: float = 0.05,
    values: Mapping[str, object] | None = None,
) -> str:
    """The export text. ``samples`` feed the promptfoo tests and the pytest cases; ``margin`` is how far
    below the measured accuracy the pytest threshold and promptfoo's pass-rate threshold sit; ``values``
    fill the variables of the curl and JSON exports (left as ``{{name}}`` otherwise)."""
    if fmt == "python":
        return render_python(spec)
    if fmt == "typescript":
        return render_typescript(spec)
    if fmt == "curl":
        return render_curl(spec, values)
    if fmt == "json":
        return render_json(spec, values)
    if fmt == "promptfoo":
        threshold = None if spec.accuracy is None else spec.accuracy - _margin(margin)
        return render_promptfoo(
            spec.prompt,
            [(spec.model, spec.temperature, spec.reasoning_effort)],
            samples,
            header=header_lines(spec),
            threshold=threshold,
            lookup=lambda model: spec.model_info,
        )
    if fmt == "pytest":
        return render_pytest(spec, samples, margin)
    raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _margin(margin: float) -> float:
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not math.isfinite(margin):
        raise InputError(f"export: margin must be a number (got {margin!r})")
    return float(margin)


def filename(spec: ExportSpec, fmt: str) -> str:
    """A file name to save the export under (``test_NAME.py`` for pytest so pytest collects it)."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", spec.prompt.name).strip("_") or "prompt"
    if fmt == "promptfoo":
        return "promptfooconfig.yaml"
    if fmt == "pytest":
        return f"test_{stem}.py"
    if fmt not in _SUFFIX:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return f"{stem}_classifier{_SUFFIX[fmt]}" if fmt in ("python", "typescript") else f"{stem}_request{_SUFFIX[fmt]}"
