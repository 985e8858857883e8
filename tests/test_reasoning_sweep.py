"""Reasoning effort as a sweep axis, against a loopback server that enforces OpenAI's reasoning rules.

The server answers a request the model would refuse with OpenAI's own 400, so "every request was
answered 200" proves no refused request was sent. Every figure of ``sweep --json`` is recomputed
from what the server billed (reasoning tokens and cost included).
"""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal

import pytest

from tests.conftest import GOLD, LABELS, PROMPT_YAML, SAMPLES_CSV
from tests.support.fake_openai import FakeOpenAI, last_user_text
from workbench.datasets import parse_csv
from workbench.errors import InputError
from workbench.pricing import Catalog, cost
from workbench.promptfile import parse_prompt
from workbench.scoring import parse_label
from workbench.service import Workbench
from workbench.sweep import build_plan

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
MODELS = "gpt-6-luna,gpt-6-sol,gpt-5-mini,gpt-4.1-mini"


def right_answers(body, call_index):
    return GOLD[last_user_text(body)[:3]].capitalize() + "."


def truth(billed):
    """Per (model, effort sent, temperature sent): what the server answered and billed, priced independently."""
    catalog = Catalog.load()
    cells: dict = {}
    for body, usage, answer in billed:
        key = (body["model"], body.get("reasoning_effort"), body.get("temperature"))
        cell = cells.setdefault(key, {"n": 0, "correct": 0, "prompt": 0, "completion": 0, "reasoning": 0, "cost": 0})
        cell["n"] += 1
        cell["correct"] += parse_label(answer, LABELS) == GOLD[last_user_text(body)[:3]]
        cell["prompt"] += usage["prompt_tokens"]
        cell["completion"] += usage["completion_tokens"]
        cell["reasoning"] += usage["completion_tokens_details"]["reasoning_tokens"]
        written = usage["prompt_tokens_details"].get("cache_write_tokens")
        cell["cost"] += cost(
            catalog.lookup(body["model"]),
            usage["prompt_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"],
            usage["completion_tokens"],
            cache_write_tokens=written,
        )
    return cells


def test_only_legal_cells_run_and_every_figure_is_exact(run_cli, fake_server, prompt_file, samples_file):
    fake_server.responder = right_answers
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 4
    fake_server.cache_write_tokens = lambda body: 3
    args = ["--prompt", prompt_file, "--dataset", samples_file, "--models", MODELS]
    args += ["--efforts", "none,low", "--temperatures", "0,0.7", "--json"]

    code, out, err = run_cli(["estimate", *args])
    assert code == 0, err
    est = json.loads(out)
    assert est["calls"] == (3 + 3 + 1 + 2) * 6
    notes = "\n".join(est["notes"])
    assert "gpt-5-mini does not take effort none" in notes
    assert "gpt-6-luna takes temperature at effort none only: effort low runs once without a temperature" in notes
    assert "gpt-5-mini" in notes and "2026-12-11" in notes  # retiring (or retired) with its date
    assert "gpt-4.1-mini" in notes and "2027-01-14" in notes and "gpt-6-luna" in notes  # date and replacement
    assert "no answers stored yet, reasoning assumed 50-600 tokens per call" in notes  # labelled estimate
    luna = next(m for m in est["models"] if m["model"] == "gpt-6-luna")
    assert luna["est_reasoning_tokens"] == 6 * 600  # effort none: 0; low: the upper end of the range

    code, out, err = run_cli(["sweep", *args, "--concurrency", "4"])
    assert code == 0, err
    result = json.loads(out)
    requests = fake_server.chat_requests()
    assert [r["status"] for r in requests] == [200] * len(requests) == [200] * 54  # nothing refused
    billed = fake_server.billed()
    expected = truth(billed)
    got = {(c["model"], c["reasoning_effort"], c["temperature"]): c for c in result["cells"]}
    assert (
        set(got)
        == set(expected)
        == {
            ("gpt-6-luna", "none", 0.0),
            ("gpt-6-luna", "none", 0.7),
            ("gpt-6-luna", "low", None),
            ("gpt-6-sol", "none", 0.0),
            ("gpt-6-sol", "none", 0.7),
            ("gpt-6-sol", "low", None),
            ("gpt-5-mini", "low", None),
            ("gpt-4.1-mini", None, 0.0),
            ("gpt-4.1-mini", None, 0.7),
        }
    )
    for key, cell in got.items():
        want = expected[key]
        assert (cell["n"], cell["accuracy"]) == (want["n"], want["correct"] / want["n"]) == (6, 1.0)
        assert cell["prompt_tokens"] == want["prompt"]
        assert cell["completion_tokens"] == want["completion"]
        assert cell["reasoning_tokens"] == want["reasoning"]
        assert cell["cost_usd"] == float(want["cost"])
        assert cell["cut_off"] == 0
        if key[1] == "low":
            assert cell["reasoning_tokens"] >= 6 * 16  # the server thought and it was billed as output
        else:
            assert cell["reasoning_tokens"] == 0
    total = sum((c["cost"] for c in expected.values()), Decimal(0))
    assert result["spent_usd"] == result["total_cost_usd"] == float(total)
    # the stored requests are exactly what each model takes
    for request in requests:
        body = request["body"]
        if body["model"] == "gpt-4.1-mini":
            assert "reasoning_effort" not in body and "temperature" in body
        elif body["model"] == "gpt-5-mini":
            assert body["reasoning_effort"] == "low" and "temperature" not in body
        elif body["reasoning_effort"] == "low":
            assert "temperature" not in body

    # show and report name the effort; export picks a cell by it and the code sends it
    code, out, err = run_cli(["show", str(result["run_id"]), "--json"])
    assert code == 0, err
    assert json.loads(out)["cells"] == result["cells"]
    code, out, err = run_cli(["show", str(result["run_id"])])
    assert code == 0 and "gpt-6-sol" in out and " low " in out
    code, out, err = run_cli(["report", str(result["run_id"]), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert {c["reasoning_effort"] for c in report["cells"]} == {"none", "low", None}
    assert "reasoning_effort" in report["recommendation"]
    run = str(result["run_id"])
    code, out, err = run_cli(["export", "--run", run, "--model", "gpt-6-sol", "--effort", "low", "--format", "python"])
    assert code == 0, err
    assert '"reasoning_effort": "low"' in out and "reasoning effort: low" in out and '"temperature"' not in out
    code, out, err = run_cli(["export", "--run", run, "--model", "gpt-4.1-mini", "--effort", "low", "--format", "curl"])
    assert code != 0 and "no cell gpt-4.1-mini at effort low" in err and "Traceback" not in err
    code, out, err = run_cli(["export", "--run", run, "--model", "gpt-6-luna", "--effort", "hihg", "--format", "curl"])
    assert code != 0 and "not a reasoning effort" in err

    # a second estimate prices reasoning from what this database has now seen
    code, out, err = run_cli(["estimate", *args])
    est = json.loads(out)
    assert "reasoning tokens per call, the mean stored here" in "\n".join(est["notes"])
    assert est["new_calls"] == 0


def test_bad_efforts_are_one_line_errors_or_notes(run_cli, prompt_file, samples_file):
    base = ["estimate", "--prompt", prompt_file, "--dataset", samples_file]
    code, out, err = run_cli([*base, "--models", "gpt-6-luna,gpt-5-mini", "--efforts", "turbo"])
    assert code != 0 and "effort 'turbo' is not a reasoning effort" in err and "Traceback" not in err
    code, out, err = run_cli([*base, "--models", "gpt-5-mini", "--efforts", "xhigh"])
    assert code != 0 and "no chosen model takes effort 'xhigh': gpt-5-mini takes minimal, low, medium, high" in err
    code, out, err = run_cli([*base, "--models", "gpt-4.1-mini", "--efforts", "low", "--json"])
    assert code == 0, err
    assert any("none of the chosen models reasons" in n for n in json.loads(out)["notes"])


def test_a_retired_model_fails_alone_and_says_so(wb):
    with FakeOpenAI(models=["gpt-6-luna", "gpt-4.1-mini"], responder=right_answers) as server:
        bench = Workbench.open(dataclasses.replace(wb.settings, base_url=server.base_url))
        plan = bench.plan([PROMPT], SAMPLES, ["gpt-4.1-nano", "gpt-6-luna"], [0.0])
        assert any("gpt-4.1-nano shut down on 2026-10-23" in n and "it is tried" in n for n in plan.notes)
        assert any(
            "gpt-4.1-nano is not listed" in n and "did you mean" in n and "gpt-4.1-mini" in n for n in plan.notes
        )
        outcome = bench.execute(bench.start(plan), plan, concurrency=1)
        nano_calls = [r for r in server.chat_requests() if r["body"]["model"] == "gpt-4.1-nano"]
        assert len(nano_calls) == 1  # the first 404 stops the model's other cells at once
        assert outcome.status == "failed"
        assert outcome.error.startswith("gpt-4.1-nano is retired (shut down on 2026-10-23; OpenAI suggests ")
        cells = {c["model"]: c for c in bench.summary(outcome.run_id)["cells"]}
        assert cells["gpt-6-luna"]["n"] == 6 and cells["gpt-6-luna"]["accuracy"] == 1.0  # the rest completed
        assert cells["gpt-4.1-nano"]["n"] == 0 and cells["gpt-4.1-nano"]["errors"] == 6
        bench.engine.dispose()


def test_on_openais_url_a_shut_down_model_is_refused_before_any_call():
    catalog = Catalog.load()
    with pytest.raises(
        InputError, match=re.escape("gpt-4.1-nano is retired: it shut down on 2026-10-23; OpenAI suggests")
    ):
        build_plan([(1, PROMPT)], 1, SAMPLES, ["gpt-4.1-nano"], [0.0], 1, "https://api.openai.com/v1", catalog)
    plan = build_plan([(1, PROMPT)], 1, SAMPLES, ["gpt-6-luna"], [0.0], 1, "https://api.openai.com/v1", catalog)
    assert plan.calls()


def test_max_tokens_budgets_the_answer_and_a_reasoning_model_gets_room_to_reason(wb, fake_server):
    """max_tokens 10 at the model's default effort (medium): max_completion_tokens 10 + 2,000, no answer cut off."""
    capped = parse_prompt(PROMPT_YAML + "params:\n  max_tokens: 10\n", "capped.yaml")
    plan = wb.plan([capped], SAMPLES, ["gpt-5-mini", "gpt-4.1-mini"], [0.0])
    assert any("max_tokens 10 is the answer's budget" in n and "+2,000 at effort medium" in n for n in plan.notes)
    outcome = wb.execute(wb.start(plan), plan, concurrency=2)
    bodies = {r["body"]["model"]: r["body"] for r in fake_server.chat_requests()}
    assert bodies["gpt-5-mini"]["max_completion_tokens"] == 2_010 and "max_tokens" not in bodies["gpt-5-mini"]
    assert bodies["gpt-4.1-mini"]["max_tokens"] == 10  # non-reasoning models keep what the prompt says
    summary = wb.summary(outcome.run_id, outcome)
    mini = next(c for c in summary["cells"] if c["model"] == "gpt-5-mini")
    assert not mini.get("cut_off") and mini["reasoning_tokens"] > 6 * 10  # more thinking than the old cap
    assert not any("cut off by reasoning" in n for n in summary.get("notes", []))


def test_effort_none_adds_no_room_and_the_estimate_never_prices_past_the_cap(wb):
    capped = parse_prompt(PROMPT_YAML + "params:\n  max_tokens: 10\n", "capped.yaml")
    plan = wb.plan([capped], SAMPLES, ["gpt-6-luna"], [0.0], efforts=["none", "low"])
    sent = {c.reasoning_effort: c.body["max_completion_tokens"] for c in plan.calls()}
    assert sent == {"none": 10, "low": 610}
    explicit = parse_prompt(PROMPT_YAML + "params:\n  max_completion_tokens: 8\n", "explicit.yaml")
    plan = wb.plan([explicit], SAMPLES, ["gpt-6-luna"], [0.0], efforts=["high"])
    assert {c.body["max_completion_tokens"] for c in plan.calls()} == {8}  # the prompt's own cap, as written
    figures = wb.estimate(plan)["models"][0]
    assert figures["est_completion_tokens"] == 8 * len(plan.calls())  # not 8,000 reasoning tokens a call


def test_an_explicit_max_completion_tokens_too_small_to_reason_is_cut_off_and_says_so(wb, fake_server):
    capped = parse_prompt(PROMPT_YAML + "params:\n  max_completion_tokens: 10\n", "capped.yaml")
    plan = wb.plan([capped], SAMPLES, ["gpt-5-mini"], [0.0])
    outcome = wb.execute(wb.start(plan), plan, concurrency=2)
    assert {r["body"]["max_completion_tokens"] for r in fake_server.chat_requests()} == {10}
    assert all(r["status"] == 200 for r in fake_server.chat_requests())
    summary = wb.summary(outcome.run_id, outcome)
    mini = next(c for c in summary["cells"] if c["model"] == "gpt-5-mini")
    assert mini["cut_off"] == 6 and mini["reasoning_tokens"] == 60 and mini["accuracy"] == 0.0
    assert any("cut off by reasoning" in n and "raise it" in n for n in summary["notes"])


def test_prompt_params_a_model_refuses_are_not_sent(wb, fake_server):
    with_logprobs = parse_prompt(PROMPT_YAML + "params:\n  logprobs: true\n  top_logprobs: 2\n", "lp.yaml")
    plan = wb.plan([with_logprobs], SAMPLES.subset([0]), ["gpt-6-luna", "gpt-5-nano"], [0.0], efforts=["none", "low"])
    assert any("gpt-6-luna refuses logprobs, top_logprobs at effort low" in n for n in plan.notes)
    wb.execute(wb.start(plan), plan, concurrency=1)
    sent = [
        (r["body"]["model"], r["body"].get("reasoning_effort"), "logprobs" in r["body"])
        for r in fake_server.chat_requests()
    ]
    assert sorted(sent, key=str) == sorted(
        [("gpt-6-luna", "none", True), ("gpt-6-luna", "low", False), ("gpt-5-nano", "low", False)], key=str
    )
    assert all(r["status"] == 200 for r in fake_server.chat_requests())
