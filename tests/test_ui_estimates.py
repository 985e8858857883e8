"""The Prompts page's cost per 1,000 items: a row per effort for reasoning models, priced as a sweep's estimate."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench.datasets import parse_samples
from workbench.pricing import Catalog
from workbench.promptfile import parse_prompt
from workbench.ui.estimates import per_thousand

PROMPT = parse_prompt(PROMPT_YAML + "params:\n  max_tokens: 5\n", "sentiment.yaml")
SAMPLES = parse_samples(SAMPLES_CSV.encode(), "reviews.csv")


def dollars(text: str) -> Decimal:
    return Decimal(text.lstrip("$").replace(",", ""))


def test_a_reasoning_model_gets_a_row_per_effort_and_reasoning_costs_more() -> None:
    table = per_thousand(PROMPT, SAMPLES, ["gpt-6-luna", "gpt-4.1-mini"], "https://api.openai.com/v1", Catalog.load())
    rows = table.to_dict("records")
    assert [(r["model"], r["effort"]) for r in rows] == [
        ("gpt-6-luna", "none"),
        ("gpt-6-luna", "low"),
        ("gpt-6-luna", "medium"),
        ("gpt-4.1-mini", "-"),
    ]
    luna = [dollars(r["$ per 1k (est.)"]) for r in rows[:3]]
    assert luna[0] < luna[1] < luna[2]  # effort, not the model alone, sets what an item costs
    answer = [r["answer tok. (est.)"] for r in rows[:3]]
    assert answer[0] < 6 and answer[1] > 600 and answer[2] > 2_000  # the answer plus the reasoning priced
    assert rows[0]["prompt tok."] == rows[3]["prompt tok."]


def test_an_unknown_model_is_priced_unknown_not_free() -> None:
    table = per_thousand(PROMPT, SAMPLES, ["my-finetune"], "http://127.0.0.1:9/v1", Catalog.load())
    assert table.to_dict("records")[0]["$ per 1k (est.)"] == "unknown"
