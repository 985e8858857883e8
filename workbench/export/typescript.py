"""TypeScript export and the JavaScript port of the label rule.

The port mirrors :func:`workbench.scoring.parse_label`: NFKC-normalise, lower-case (Python uses
``casefold``; the two differ only for a few letters such as "ß"), turn every run of characters that
are not letters or digits into one space, then exact match, else a JSON-object answer read by its values
(exactly one value equal to a label), else whole-word match, skipping a label right after a
negation word, where a longer label wins over a shorter one inside it; exactly one label or
``"unparsed"``. It is written once
with TypeScript annotations between « » marks; :func:`parse_label_js` strips them for plain
JavaScript (used by the promptfoo assertion) and the tests run it against the Python rule.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.export.spec import ExportSpec, comment_block, one_line
from workbench.templating import VARIABLE

_PARSER = """\
function normalizeLabelText(text«: unknown»)«: string» {
  return String(text).normalize("NFKC").toLowerCase().replace(/[^\\p{L}\\p{N}]+/gu, " ").trim();
}

const NEGATIONS = new Set«<string>»(["not", "no", "never", "nor", "neither", "t"]);

function jsonLabel(output«: unknown», forms«: Map<string, string>»)«: string | null» {
  let text = String(output).trim();
  if (text.startsWith("```")) {
    text = text.includes("\\n") ? text.slice(text.indexOf("\\n") + 1) : "";
    const fence = text.lastIndexOf("```");
    text = (fence === -1 ? text : text.slice(0, fence)).trim();
  }
  if (!text.startsWith("{")) return null;
  let data«: unknown»;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
  const isObject = (v«: unknown»)«: v is Record<string, unknown>» =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  const values«: unknown[]» = Object.values(data);
  for (const inner of Object.values(data)) if (isObject(inner)) values.push(...Object.values(inner));
  const found = new Set«<string>»();
  for (const value of values) {
    const label = typeof value === "string" ? forms.get(normalizeLabelText(value)) : undefined;
    if (label !== undefined) found.add(label);
  }
  return found.size === 1 ? [...found][0] : null;
}

function parseLabel(output«: unknown», labels«: readonly string[]»)«: string» {
  if (output === null || output === undefined) return "unparsed";
  const text = normalizeLabelText(output);
  if (!text) return "unparsed";
  const forms = new Map«<string, string>»();
  for (const label of labels) {
    const form = normalizeLabelText(label);
    if (form && !forms.has(form)) forms.set(form, label);
  }
  const exact = forms.get(text);
  if (exact !== undefined) return exact;
  const structured = jsonLabel(output, forms);
  if (structured !== null) return structured;
  const padded = " " + text + " ";
  const spans = new Map«<string, Array<[number, number]>>»();
  for (const [form, label] of forms) {
    const needle = " " + form + " ";
    const found«: Array<[number, number]>» = [];
    let start = padded.indexOf(needle);
    while (start !== -1) {
      const before = padded.slice(0, start);
      if (!NEGATIONS.has(before.slice(before.lastIndexOf(" ") + 1))) found.push([start, start + needle.length]);
      start = padded.indexOf(needle, start + 1);
    }
    if (found.length) spans.set(label, found);
  }
  const matched = new Set«<string>»();
  for (const [label, found] of spans) {
    const size = normalizeLabelText(label).length;
    const free = found.some(([begin, end]) => {
      for (const [other, others] of spans) {
        if (other === label || normalizeLabelText(other).length <= size) continue;
        if (others.some(([b, e]) => b <= begin && end <= e)) return false;
      }
      return true;
    });
    if (free) matched.add(label);
  }
  return matched.size === 1 ? [...matched][0] : "unparsed";
}
"""


def parse_label_ts() -> str:
    return _PARSER.replace("«", "").replace("»", "")


def parse_label_js() -> str:
    """The same functions without type annotations."""
    return re.sub(r"«[^»]*»", "", _PARSER)


def js(value: Any) -> str:
    """A JSON literal, which is also a valid JavaScript/TypeScript expression."""
    return json.dumps(value, ensure_ascii=False, indent=2)


_BODY = """\
type Message = { role: string; content: string; name?: string };
type Variables = Record<string, unknown>;

export function renderMessages(variables: Variables): Message[] {
  return (REQUEST.messages as Message[]).map((message) => ({
    ...message,
    content: message.content.replace(new RegExp(VARIABLE_PATTERN, "g"), (_match: string, name: string) => {
      if (!Object.prototype.hasOwnProperty.call(variables, name)) {
        throw new Error(`missing variable "${name}": this prompt needs ${VARIABLES.join(", ") || "none"}`);
      }
      const value = variables[name];
      return value === null || value === undefined ? "" : String(value);
    }),
  }));
}

/** The exact chat-completions request the workbench measured, for these variables. */
export function requestBody(variables: Variables): Record<string, unknown> {
  return { ...REQUEST, messages: renderMessages(variables) };
}

let client: OpenAI | undefined;

/** Ask the model; resolves to one of LABELS, or "unparsed" when the answer names none or several. */
export async function classify(variables: Variables): Promise<string> {
  client ??= new OpenAI();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const response = await client.chat.completions.create(requestBody(variables) as any);
  return parseLabel(response.choices[0]?.message?.content ?? null, LABELS);
}
"""

# The script's entry point (one input per line in, one label per line out): shared with the cascade export.
MAIN_FUNCTION = """
async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    let variables: Variables;
    if (VARIABLES.length === 1) {
      variables = { [VARIABLES[0]]: line };
    } else if (!line.trim()) {
      continue;
    } else {
      variables = JSON.parse(line) as Variables;
    }
    process.stdout.write((await classify(variables)) + "\\n");
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
"""


def render_typescript(spec: ExportSpec) -> str:
    prompt = spec.prompt
    names = prompt.variables
    stdin = "one input per line" if len(names) == 1 else "one JSON object per line (keys: " + ", ".join(names) + ")"
    doc = (
        "/**\n"
        f" * Classifier: prompt {one_line(prompt.name)} on {one_line(spec.model)}.\n"
        ' * As a module: import { classify } from "./this-file"; await classify({ ... })\n'
        f" * As a script (npx tsx this-file.ts): {stdin} on stdin, one label per line on stdout.\n"
        " * Needs the openai package (npm i openai).\n"
        " */\n"
    )
    constants = (
        f"export const LABELS: readonly string[] = {js(list(prompt.labels))};\n"
        f"export const VARIABLES: readonly string[] = {js(names)};\n"
        "// The request the workbench measured; renderMessages() fills the {{variables}} in.\n"
        f"const REQUEST = {js(spec.body())};\n"
        f"const VARIABLE_PATTERN = {js(VARIABLE.pattern)};\n\n"
    )
    return (
        comment_block(spec, "//")
        + doc
        + 'import OpenAI from "openai";\nimport { createInterface } from "node:readline";\n'
        + 'import { pathToFileURL } from "node:url";\n\n'
        + constants
        + "// ---- label parser: a port of workbench/scoring.py ----\nexport "
        + parse_label_ts().replace("\nfunction parseLabel", "\nexport function parseLabel")
        + "// ---- end of label parser ----\n\n"
        + _BODY
        + MAIN_FUNCTION
    )
