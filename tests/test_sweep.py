"""Sweep plans and estimates: the size of the grid, exact prompt tokens, refusals before any call."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench.chat import request_body, request_key
from workbench.datasets import parse_csv
from workbench.errors import InputError
from workbench.pricing import Catalog, cost
from workbench.promptfile import parse_prompt
from workbench.sweep import build_plan, check_temperatures, estimate, parse_models, parse_temperatures
from workbench.tokens import count_chat, count_text

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
OTHER = parse_prompt(PROMPT_YAML.replace("name: sentiment-test", "name: terse").replace("Answer", "Reply"))
BASE = "http://127.0.0.1:9/v1"


def plan_for(prompts=(PROMPT,), models=("gpt-4.1-nano", "gpt-4.1-mini"), temps=(0.0, 0.7), repeats=1, samples=SAMPLES):
    return build_plan(
        [(i + 1, p) for i, p in enumerate(prompts)],
        1,
        samples,
        list(models),
        list(temps),
        repeats,
        BASE,
        Catalog.load(),
    )


def test_number_of_calls_is_the_product_of_the_grid():
    plan = plan_for(prompts=(PROMPT, OTHER), temps=(0, 0.5, 1.0), repeats=2)
    calls = plan.calls()
    assert len(calls) == 2 * 2 * 3 * len(SAMPLES) * 2 == 144
    assert len({c.key for c in calls}) == 144  # every call is distinct, repeats included
    assert estimate(plan, calls)["calls"] == 144


def test_repeats_differ_only_in_the_key():
    plan = plan_for(models=("gpt-4.1-nano",), temps=(0.7,), repeats=3)
    first = [c for c in plan.calls() if c.sample_idx == 0]
    assert [c.repeat for c in first] == [0, 1, 2]
    assert first[0].body == first[1].body == first[2].body
    assert len({c.key for c in first}) == 3


def test_models_without_temperature_get_one_cell_without_it():
    plan = plan_for(models=("gpt-4.1-nano", "gpt-5-nano"), temps=(0, 0.7, 1.4))
    calls = plan.calls()
    assert len(calls) == (3 + 1) * len(SAMPLES)
    assert all("temperature" not in c.body and c.temperature is None for c in calls if c.model == "gpt-5-nano")
    assert any("gpt-5-nano" in note for note in plan.notes)


def test_request_body_and_key():
    body = request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": "{{label}} %s"})
    assert body["messages"][1] == {"role": "user", "content": "{{label}} %s"}
    assert body["temperature"] == 0.0 and body["model"] == "gpt-4.1-nano"
    key = request_key(BASE, body, 0)
    assert key == request_key(BASE + "/", body, 0)
    assert key != request_key(BASE, body, 1)
    assert key != request_key("http://other/v1", body, 0)
    assert key != request_key(BASE, {**body, "temperature": 0.7}, 0)


@pytest.mark.parametrize("text", ["3", "-0.1", "0,2.01", "nan"])
def test_temperature_outside_0_2_is_refused(text):
    with pytest.raises(InputError, match=r"outside 0-2|not a number"):
        parse_temperatures(text)


def test_temperature_parsing():
    assert parse_temperatures("0, 0.7,0,2") == [0.0, 0.7, 2.0]
    with pytest.raises(InputError, match="not a number"):
        parse_temperatures("0,warm")
    with pytest.raises(InputError, match="at least one"):
        parse_temperatures(" , ")
    with pytest.raises(InputError):
        check_temperatures([2.5])
    assert parse_models(" a,b ,a,") == ["a", "b"]
    with pytest.raises(InputError):
        parse_models(" , ")


def test_missing_variable_is_refused():
    samples = parse_csv(b"body,label\nhello,positive\n", "mail.csv")
    with pytest.raises(InputError, match=r"\{\{text\}\}.*mail\.csv has no column 'text'"):
        plan_for(samples=samples)


def test_the_gold_label_column_cannot_be_a_prompt_variable():
    leaky = parse_prompt(PROMPT_YAML.replace('"{{text}}"', '"{{text}} (hint: {{label}})"'))
    with pytest.raises(InputError, match=r"uses \{\{label\}\}, the gold label column of samples\.csv"):
        plan_for(prompts=(leaky,))


def test_gold_label_not_in_the_prompt_is_refused_with_its_row():
    samples = parse_csv(b"text,label\na,positive\nb,Negative\nc,angry\n", "s.csv")
    with pytest.raises(
        InputError, match=r"s\.csv: 1 gold label\(s\) are not among the prompt's labels .*: row 4 'angry'$"
    ):
        plan_for(samples=samples)


def test_repeats_must_be_positive():
    with pytest.raises(InputError, match="repeats"):
        plan_for(repeats=0)


def test_estimate_contract_and_figures():
    plan = plan_for(repeats=2)
    est = estimate(plan)
    assert est["calls"] == 2 * 2 * len(SAMPLES) * 2
    assert est["cost_known"] is True
    catalog = Catalog.load()
    completion = max(count_text(label) for label in PROMPT.labels) + 1
    total = Decimal(0)
    for entry in est["models"]:
        assert set(entry) >= {"model", "calls", "prompt_tokens", "est_completion_tokens", "est_cost_usd"}
        tokens = [count_chat(c.body["messages"]) for c in plan.calls() if c.model == entry["model"]]
        assert entry["calls"] == len(tokens) == 24
        assert entry["prompt_tokens"] == sum(tokens)
        assert entry["est_completion_tokens"] == completion * len(tokens)
        expected = sum(cost(catalog.lookup(entry["model"]), t, 0, completion) for t in tokens)
        assert entry["est_cost_usd"] == float(expected)
        total += expected
    assert est["est_total_usd"] == float(total)
    assert [m["model"] for m in est["models"]] == ["gpt-4.1-nano", "gpt-4.1-mini"]


def test_estimate_excludes_stored_calls_from_new_cost():
    plan = plan_for(models=("gpt-4.1-nano",), temps=(0,))
    calls = plan.calls()
    est = estimate(plan, calls, stored={calls[0].key, calls[1].key})
    assert est["stored"] == 2 and est["new_calls"] == len(calls) - 2
    assert 0 < est["est_new_usd"] < est["est_total_usd"]


def test_unknown_model_estimate_says_unknown_not_zero():
    est = estimate(plan_for(models=("gpt-4.1-nano", "house-llama"), temps=(0,)))
    by_model = {m["model"]: m for m in est["models"]}
    assert by_model["house-llama"]["est_cost_usd"] is None
    assert by_model["house-llama"]["prompt_tokens"] > 0
    assert est["est_total_usd"] is None


def test_max_tokens_caps_the_completion_estimate():
    capped = parse_prompt(PROMPT_YAML + "params:\n  max_tokens: 1\n")
    est = estimate(plan_for(prompts=(capped,), models=("gpt-4.1-nano",), temps=(0,)))
    assert est["models"][0]["est_completion_tokens"] == len(SAMPLES)


def test_estimate_prompt_tokens_equal_what_the_server_bills(wb, fake_server):
    plan = wb.plan([PROMPT, OTHER], SAMPLES, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.0, 1.0], repeats=2)
    est = wb.estimate(plan)
    assert fake_server.calls == 0  # estimating calls nothing
    outcome = wb.execute(wb.start(plan), plan, concurrency=8)
    assert outcome.status == "completed"
    billed = fake_server.billed()
    assert len(billed) == est["calls"] == 2 * 2 * 2 * len(SAMPLES) * 2
    for entry in est["models"]:
        server_tokens = sum(usage["prompt_tokens"] for body, usage, _ in billed if body["model"] == entry["model"])
        assert entry["prompt_tokens"] == server_tokens
