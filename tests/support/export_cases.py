"""What the export tests share: a prompt with hostile text, a spec, scripted answers, child processes,
and answers with the label each must parse to (compared across Python, JavaScript and exports)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.fake_openai import last_user_text
from workbench.datasets import Sample, SampleSet
from workbench.export import ExportSpec
from workbench.promptfile import PromptFile, prompt_from_dict

KEY = "sk-test-export-0123456789"
DATA = Path(__file__).resolve().parents[1] / "data" / "promptfoo"

# Content that breaks naive embedding: quotes of every kind, braces, nunjucks and format syntax,
# backslashes, tabs, non-ASCII, a line separator and a literal {{ not a variable }}.
NASTY = (
    "He said \"hi\" & 'bye' \"\"\" ''' {} {0.__class__} %s {% raw %} {{ not a var }}"
    " C:\\new\\table\t ünï 🙂 \u2028 $HOME `x`"
)

PROMPT = prompt_from_dict(
    {
        "name": "tricky-sentiment",
        "description": "Sentiment, with content that breaks naive string embedding.",
        "labels": ["positive", "negative", "neutral", "not positive"],
        "messages": [
            {"role": "system", "content": "Classify the review.\n" + NASTY + "\nAnswer with one label."},
            {"role": "user", "content": "Review: {{text}}"},
        ],
        "params": {"max_tokens": 5, "seed": 7, "stop": ["\n\n"]},
    }
)
TWO_VARS = prompt_from_dict(
    {
        "name": "ticket-topic",
        "labels": ["billing", "shipping", "other"],
        "messages": [
            {"role": "system", "content": "Route the ticket: billing, shipping or other."},
            {"role": "user", "content": "Subject: {{subject}}\nBody: {{ body }}"},
        ],
    }
)
SPEC = ExportSpec(
    prompt=PROMPT,
    model="gpt-4.1-nano",
    temperature=0.0,
    run_id=42,
    accuracy=0.875,
    accuracy_ci95=(0.71, 0.95),
    cost_per_1k_usd=0.0123,
    n=40,
    created="2025-06-01",
)

# One input line per marker; the fake model answers in the spellings real models use.
INPUTS = [
    'm1 Loved it, "best" {{text}} purchase \\o/',
    "m2 Broke after a day {0} %s {% raw %}",
    "m3 It is a product. ünïcödé 🙂",
    "m4 Mixed feelings",
    "m5 Not great, not terrible",
]
ANSWERS = {
    "m1": "Positive.",
    "m2": "Label: negative",
    "m3": " NEUTRAL\n",
    "m4": "positive or negative",
    "m5": "Not positive.",
}


def answer_by_marker(body: dict, call_index: int) -> str:
    text = last_user_text(body)
    return next((answer for marker, answer in ANSWERS.items() if marker in text), "no idea")


def child_env(base_url: str | None, key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if base_url is not None:
        env["OPENAI_BASE_URL"] = base_url
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=env, input=stdin.encode("utf-8"), capture_output=True, timeout=timeout, check=False
    )


def samples_for(prompt: PromptFile, rows: list[tuple[str, dict[str, str]]], label_column: str = "label") -> SampleSet:
    columns = (*prompt.variables, label_column)
    return SampleSet("test", label_column, columns, tuple(Sample(i, g, v) for i, (g, v) in enumerate(rows)))


LABELS3 = ("positive", "negative", "neutral")
PARSE_CASES: list[tuple[str | None, tuple[str, ...]]] = [
    ("Positive.", LABELS3),
    ("Label: negative", LABELS3),
    (" NEUTRAL\n", LABELS3),
    ("positive or negative", LABELS3),
    ("positive, positive!", LABELS3),
    ("", LABELS3),
    ("...", LABELS3),
    (None, LABELS3),
    ("I cannot tell", LABELS3),
    ("ＰＯＳＩＴＩＶＥ", LABELS3),
    ("pos_itive", LABELS3),
    ("not spam", ("spam", "not spam")),
    ("Spam.", ("spam", "not spam")),
    ("spam, definitely not spam", ("spam", "not spam")),
    ('{"sentiment": "positive", "confidence": 9}', ("positive", "negative")),
    ("Très positif", ("positif", "négatif")),
    ("label 2", ("1", "2")),
    ("billing/shipping", ("billing", "shipping", "other")),
    ("Category: Tech Support", ("tech support", "billing", "tech")),
    ("Не спам", ("спам", "не спам")),
    ('{"sentiment": "positive", "reasoning": "not negative at all"}', LABELS3),
    ('```json\n{"label": "Negative."}\n```', LABELS3),
    ('```\n{"label": "neutral"}', LABELS3),
    ('{"outer": {"label": "neutral"}, "n": 3}', LABELS3),
    ('{"a": "positive", "b": "negative"}', LABELS3),
    ('{"a": ["positive"], "b": null}', LABELS3),
    ('["positive"]', LABELS3),
    ("{not json, positive", LABELS3),
    # what a small local model (SmolLM2-135M) answers, and negations
    ("This review is positive,", ("positive", "negative")),
    ("The sentiment of the review is negative.", ("positive", "negative")),
    ("The review is a mix of positive and negative, with the", ("positive", "negative")),
    ("The review is not negative, it is positive.", LABELS3),
    ("It isn't positive", LABELS3),
    ("neither positive nor negative", LABELS3),
    ("No spam here", ("spam", "ham")),
]
