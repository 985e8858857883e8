"""A cascade on a real run against the loopback server: re-scored from what the server answered and billed."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML
from tests.support.fake_openai import FakeOpenAI, last_user_text
from workbench.datasets import load_samples
from workbench.pricing import Catalog, cost
from workbench.promptfile import load_prompt
from workbench.scoring import parse_label

LABELS = ("positive", "negative", "neutral")
N = 40


def gold(i: int) -> str:
    return LABELS[i % 3]


def answers(body: dict, call_index: int) -> str:
    """nano: right on easy samples, drifting on every 4th across repeats, once unparsable; mini: mostly right."""
    i = int(last_user_text(body)[1:3])
    right, wrong = gold(i), LABELS[(i + 1) % 3]
    if body["model"] == "gpt-4.1-mini":
        return (wrong if i % 9 == 0 else right).capitalize() + "."
    if i == 5:
        return "I cannot tell"
    if i % 4 == 0:
        return right if (i + call_index) % 3 == 0 else f"Label: {wrong}"
    return right


def write_samples(path: Path, n: int = N) -> Path:
    lines = ["text,label"] + [f"t{i:02d} review number {i},{gold(i)}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sweep(wb, tmp_path: Path, n: int = N, repeats: int = 3, logprobs: bool = False) -> int:
    prompt_path = tmp_path / "sentiment.yaml"
    prompt_path.write_text(PROMPT_YAML, encoding="utf-8")
    samples = load_samples(write_samples(tmp_path / "reviews.csv", n))
    plan = wb.plan([load_prompt(prompt_path)], samples, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.7], repeats)
    run = wb.start(plan, concurrency=1)
    outcome = wb.execute(run, plan, concurrency=1)  # one at a time: the server's n-th answer is repeat n
    assert outcome.status == "completed"
    return run.id


def rescore(billed: list, rec: dict) -> tuple[set[int], int, Decimal]:
    """Apply the recommended rule to what the server answered, priced from what it billed."""
    catalog = Catalog.load()
    calls: dict[tuple[str, int], list[tuple[str, Decimal]]] = defaultdict(list)
    for body, usage, answer in billed:
        i = int(last_user_text(body)[1:3])
        price = cost(
            catalog.lookup(body["model"]),
            usage["prompt_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"],
            usage["completion_tokens"],
        )
        calls[(body["model"], i)].append((parse_label(answer, LABELS), price))
    k, signal, threshold = rec["cheap_calls_per_sample"], rec["signal"], rec["threshold"]
    escalated, right, total = set(), 0, Decimal(0)
    for i in range(N):
        cheap = calls[("gpt-4.1-nano", i)][:k]
        votes = Counter(label for label, _ in cheap if label != "unparsed")
        answer = max(LABELS, key=lambda label: (votes[label], -LABELS.index(label))) if votes else "unparsed"
        confidence = {
            "agreement": votes[answer] / k if votes else 0.0,
            "parsed": 1.0 if votes else 0.0,
        }[signal]
        total += sum((price for _, price in cheap), Decimal(0))
        if confidence < threshold:
            escalated.add(i + 1)
            strong_label, strong_price = calls[("gpt-4.1-mini", i)][0]
            answer = strong_label
            total += strong_price
        right += answer == gold(i)
    return escalated, right, total


def test_recommended_cascade_rescored_from_the_server_is_exact(wb, fake_server: FakeOpenAI, tmp_path: Path) -> None:
    fake_server.responder = answers
    run_id = sweep(wb, tmp_path)
    report = wb.cascade(run_id, "gpt-4.1-nano", "gpt-4.1-mini")
    rec = report["recommended"]
    assert rec is not None, report["reason"]
    escalated, right, total = rescore(fake_server.billed(), rec)
    assert set(rec["escalated_rows"]) == escalated and escalated
    assert rec["escalated_file_rows"] == [row + 1 for row in rec["escalated_rows"]]  # header is CSV row 1
    assert rec["accuracy_all"] == right / N
    assert Decimal(repr(rec["cost_all_usd"])) == total
    assert rec["cost_per_1k_all_usd"] == float(total * 1000 / N)
    assert rec["cost_per_1k_all_usd"] < report["strong_alone"]["cost_per_1k_usd"]
    assert rec["held_out_accuracy"] is not None and rec["accuracy_all"] is not None
    logprob = next(s for s in report["signals"] if s["signal"] == "logprob")
    assert not logprob["available"] and "--logprobs" in logprob["reason"]


def test_cli_cascade_json_and_errors(wb, fake_server: FakeOpenAI, tmp_path: Path, run_cli) -> None:
    fake_server.responder = answers
    run_id = sweep(wb, tmp_path)
    code, out, err = run_cli(["cascade", run_id, "--cheap", "gpt-4.1-nano", "--strong", "gpt-4.1-mini", "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert {"policies", "cheap_alone", "strong_alone", "recommended", "selected", "calibration"} <= set(report)
    rec = report["recommended"]
    for key in ("signal", "threshold", "cheap_calls_per_sample", "escalation_rate", "escalated_rows",
                "accuracy_all", "cost_per_1k_all_usd", "held_out_accuracy", "held_out_cost_per_1k_usd"):  # fmt: skip
        assert key in rec
    code, out, err = run_cli(["cascade", run_id, "--cheap", "gpt-4.1-nano@0.7", "--strong", "gpt-4.1-mini@-@0.7"])
    assert code == 0, err
    assert "recommended:" in out and "held-out" in out
    code, out, err = run_cli(["cascade", run_id, "--cheap", "gpt-4.1", "--strong", "gpt-4.1-mini"])
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: the run has no cheap cell 'gpt-4.1' (its cells: gpt-4.1-mini@-@0.7, gpt-4.1-nano@-@0.7)"
    ]
    code, _, err = run_cli(["cascade", run_id, "--cheap", "gpt-4.1-nano", "--strong", "gpt-4.1-mini", "--target", "2"])
    assert code == 2 and "between 0 and 1" in err


def test_too_few_samples_is_one_line(wb, fake_server: FakeOpenAI, tmp_path: Path, run_cli) -> None:
    fake_server.responder = answers
    run_id = sweep(wb, tmp_path, n=8, repeats=1)
    code, out, err = run_cli(["cascade", run_id, "--cheap", "gpt-4.1-nano", "--strong", "gpt-4.1-mini"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "too few samples for cross-validation: 8" in err


@pytest.mark.parametrize("missing", ["gpt-4.1-nano", "gpt-4.1-mini"])
def test_a_run_without_one_of_the_cells(wb, fake_server: FakeOpenAI, tmp_path: Path, missing: str) -> None:
    from workbench.errors import InputError

    fake_server.responder = answers
    prompt_path = tmp_path / "sentiment.yaml"
    prompt_path.write_text(PROMPT_YAML, encoding="utf-8")
    samples = load_samples(write_samples(tmp_path / "reviews.csv"))
    model = "gpt-4.1-mini" if missing == "gpt-4.1-nano" else "gpt-4.1-nano"
    plan = wb.plan([load_prompt(prompt_path)], samples, [model], [0.0], 1)
    run = wb.start(plan)
    wb.execute(run, plan)
    with pytest.raises(InputError, match=f"no (cheap|strong) cell '{missing}'"):
        wb.cascade(run.id, "gpt-4.1-nano", "gpt-4.1-mini")


def test_logprobs_opt_in_reaches_the_request_key_the_store_and_the_logprob_signal(
    wb, fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    from workbench.confidence import answer_probability
    from workbench.sweep import LOGPROBS_PARAMS

    fake_server.responder = answers
    prompt_path = tmp_path / "sentiment.yaml"
    prompt_path.write_text(PROMPT_YAML, encoding="utf-8")
    samples = load_samples(write_samples(tmp_path / "reviews.csv"))
    models = ["gpt-4.1-nano", "gpt-4.1-mini", "o4-mini", "gpt-6-luna"]
    plain = wb.plan([load_prompt(prompt_path)], samples, models, [0.7], 3)
    plan = wb.plan([load_prompt(prompt_path)], samples, models, [0.7], 3, logprobs=True)
    assert plan.plan_hash != plain.plan_hash and plan.describe()["logprobs"] is True
    assert "logprobs" not in plain.describe()
    by_model = {c.model: c for c in plan.calls()}
    assert by_model["gpt-4.1-nano"].body.items() >= LOGPROBS_PARAMS.items()
    assert "logprobs" not in by_model["o4-mini"].body  # the catalog says it returns none: never asked
    assert by_model["gpt-4.1-nano"].key != next(c.key for c in plain.calls() if c.model == "gpt-4.1-nano")
    assert any("o4-mini does not return logprobs" in note for note in plan.notes)
    # GPT-6 takes logprobs only at effort none, and its default effort is not none: not asked
    assert "logprobs" not in by_model["gpt-6-luna"].body
    assert any("gpt-6-luna does not return logprobs" in note for note in plan.notes)

    plan = wb.plan([load_prompt(prompt_path)], samples, models[:2], [0.7], 3, logprobs=True)
    run = wb.start(plan, concurrency=1)
    assert wb.execute(run, plan, concurrency=1).status == "completed"
    assert wb.plan_for_run(run).plan_hash == plan.plan_hash  # resume rebuilds the same calls
    report = wb.cascade(run.id, "gpt-4.1-nano", "gpt-4.1-mini")
    assert next(s for s in report["signals"] if s["signal"] == "logprob")["available"]

    # every logprob policy re-scored from what the server sent back
    catalog = Catalog.load()
    calls: dict[tuple[str, int], list[tuple[str, float, Decimal]]] = defaultdict(list)
    for record in fake_server.chat_requests():
        body, usage = record["body"], record["usage"]
        assert body.items() >= LOGPROBS_PARAMS.items()
        price = cost(catalog.lookup(body["model"]), usage["prompt_tokens"], 0, usage["completion_tokens"])
        prob = answer_probability(record["logprobs"])
        calls[(body["model"], int(last_user_text(body)[1:3]))].append(
            (parse_label(record["answer"], LABELS), prob, price)
        )
    policies = [p for p in report["policies"] if p["signal"] == "logprob"]
    assert len(policies) >= 3
    for policy in policies:
        k, threshold = policy["cheap_calls_per_sample"], policy["threshold"]
        escalated = right = 0
        total = Decimal(0)
        for i in range(N):
            cheap = calls[("gpt-4.1-nano", i)][:k]
            votes = Counter(label for label, _, _ in cheap if label != "unparsed")
            answer = max(LABELS, key=lambda label: (votes[label], -LABELS.index(label))) if votes else "unparsed"
            confidence = sum((p for label, p, _ in cheap if label == answer), 0.0) / k if votes else 0.0
            total += sum((price for _, _, price in cheap), Decimal(0))
            if confidence < threshold:
                escalated += 1
                answer, _, price = calls[("gpt-4.1-mini", i)][0]
                total += price
            right += answer == gold(i)
        assert policy["escalated"] == escalated
        assert policy["accuracy"] == right / N
        assert policy["cost_per_1k_usd"] == float(total * 1000 / N)
