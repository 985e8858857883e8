"""Request-only exports: the JSON body, and a curl command that sends it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

from workbench.export.spec import ExportSpec, comment_block


def render_json(spec: ExportSpec, values: Mapping[str, object] | None = None) -> str:
    """The request body, indented; ``{{variables}}`` stay in place unless ``values`` are given."""
    body = spec.body(values)
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def render_curl(spec: ExportSpec, values: Mapping[str, object] | None = None) -> str:
    """A bash command posting the body to ``$OPENAI_BASE_URL/chat/completions`` (default api.openai.com)."""
    body = json.dumps(spec.body(values), ensure_ascii=False, indent=2)
    names = spec.prompt.variables
    if values is None and names:
        fill = "# Replace " + ", ".join("{{" + name + "}}" for name in names) + " in the JSON body below"
        fill += " (JSON-escape quotes, backslashes and line breaks).\n"
    else:
        fill = ""
    return (
        "#!/usr/bin/env bash\n"
        + comment_block(spec, "#")
        + fill
        + 'curl -sS "${OPENAI_BASE_URL:-https://api.openai.com/v1}/chat/completions" \\\n'
        + '  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n'
        + '  -H "Content-Type: application/json" \\\n'
        + f"  -d {shlex.quote(body)}\n"
    )
