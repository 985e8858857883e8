"""Hostile or sloppy input is refused early with one line: -0, 2.0000001, colliding labels, YAML
alias bombs, NaN and path-like names in promptfoo configs, a 5,000-digit number or 100k-deep nesting
in JSONL, 5,000 columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, ROOT, SAMPLES_CSV, cli_env
from workbench.chat import request_body
from workbench.cli import emit
from workbench.datasets import parse_csv
from workbench.errors import InputError
from workbench.promptfile import parse_prompt, prompt_from_dict
from workbench.promptfoo import parse_config
from workbench.sweep import check_model_name, parse_models, parse_temperatures
from workbench.yamlsafe import load

PROMPT = parse_prompt(PROMPT_YAML, "sentiment.yaml")
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")


def bomb(levels: int) -> str:
    """A "billion laughs" YAML document: 9 ** levels strings from a few hundred bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --- temperatures ----------------------------------------------------------------------------------


def test_minus_zero_is_the_temperature_zero_and_reuses_its_answers(wb, fake_server) -> None:
    assert parse_temperatures("-0, 0") == [0.0] and str(parse_temperatures("-0")[0]) == "0.0"
    assert json.dumps(request_body(PROMPT, "gpt-4.1-nano", -0.0)["temperature"]) == "0.0"
    first = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [0.0], 1)
    assert wb.execute(wb.start(first), first, concurrency=2).status == "completed"
    again = wb.plan([PROMPT], SAMPLES, ["gpt-4.1-nano"], [-0.0], 1)
    assert [c.key for c in again.calls()] == [c.key for c in first.calls()]
    assert wb.estimate(again)["new_calls"] == 0


def test_a_temperature_just_above_two_is_reported_as_given() -> None:
    with pytest.raises(InputError, match=r"temperature 2\.0000001 is outside 0-2"):
        parse_temperatures("2.0000001")
    with pytest.raises(InputError, match="temperature nan is outside"):
        parse_temperatures("nan")


# --- labels and model names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["positive", "Positive!"], "'positive' and 'Positive!' read the same"),
        (["yes", "no", " YES "], "read the same"),
        (["ok", "!!!"], "has no letters or digits"),
    ],
)
def test_labels_that_read_the_same_after_normalisation_are_refused(labels: list[str], message: str) -> None:
    data = {"name": "x", "labels": labels, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(InputError, match=message):
        prompt_from_dict(data, "x.yaml")


def test_model_names_are_names_never_paths() -> None:
    for good in ("gpt-4.1-nano", "ft:gpt-4o-mini:org::abc123", "meta-llama/Llama-3.1-8B", "qwen2.5:7b"):
        assert check_model_name(good) == good
    for bad in ("../../etc/passwd", "a/../b", "-rf", "gpt 4", "x" * 300, "nano\x00x"):
        with pytest.raises(InputError, match="is not a model name"):
            parse_models(bad)


# --- YAML expansion --------------------------------------------------------------------------------


def test_yaml_alias_bombs_are_refused_before_anything_walks_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expands to more than 100,000 values"):
        load(bomb(9), "params")
    with pytest.raises(InputError, match="containing themselves"):
        load("a: &r [1, *r]", "params")
    assert load("base: &b {max_tokens: 5}\nother: *b\n", "params") == {
        "base": {"max_tokens": 5},
        "other": {"max_tokens": 5},
    }
    prompt = PROMPT_YAML + "params:\n  logit_bias:\n" + "".join(f"    {line}\n" for line in bomb(7).splitlines())
    with pytest.raises(InputError, match=r"sentiment\.yaml: the YAML expands"):
        parse_prompt(prompt, "sentiment.yaml")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("prompts: ['{{text}}']\nproviders: [openai:gpt-4.1-nano]\ndescription: x\n" + bomb(8))
    with pytest.raises(InputError, match="the YAML expands"):
        parse_config(config, labels=["a", "b"])


# --- promptfoo configs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("{id: 'openai:chat:gpt-4.1-nano', config: {temperature: -5}}", "temperature -5 is outside 0-2"),
        ("{id: 'openai:chat:gpt-4.1-nano', config: {temperature: .nan}}", "temperature nan is outside 0-2"),
        ("{id: 'openai:chat:gpt-4.1-nano', config: {temperature: .inf}}", "temperature inf is outside 0-2"),
        ("'openai:chat:../../etc/passwd'", "is not a model name"),
    ],
)
def test_import_promptfoo_refuses_what_a_sweep_would(tmp_path: Path, provider: str, message: str) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(f"prompts: ['{{{{text}}}}']\nproviders: [{provider}]\n")
    with pytest.raises(InputError, match=message):
        parse_config(config, labels=["a", "b"])
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "import-promptfoo", str(config), "--labels", "a,b", "--json"],
        env=cli_env("http://127.0.0.1:9/v1", f"sqlite:///{tmp_path / 'wb.db'}"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_json_output_is_never_nan(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"ok": 1.5})
    assert json.loads(capsys.readouterr().out) == {"ok": 1.5}
    with pytest.raises(ValueError):
        emit({"temperatures": [float("nan")]})


# --- hostile sample files --------------------------------------------------------------------------

HOSTILE_JSONL = {
    "a 5,000-digit number": (b'{"label": "positive", "text": ' + b"9" * 5000 + b"}\n", "line 1: Exceeds the limit"),
    "nesting 100k deep": (b'{"label": "positive", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "too deeply"),
    "5,000 columns": (
        b"{" + b", ".join(b'"c%d": 1' % i for i in range(5000)) + b"}\n",
        "(columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, … (4,988 more))",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_JSONL))
def test_hostile_jsonl_is_one_short_line_in_the_cli(tmp_path: Path, case: str) -> None:
    data, message = HOSTILE_JSONL[case]
    (tmp_path / "hostile.jsonl").write_bytes(data)
    (tmp_path / "p.yaml").write_text(PROMPT_YAML)
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "estimate", "--prompt", "p.yaml", "--dataset", "hostile.jsonl"],
        env=cli_env("http://127.0.0.1:9/v1", f"sqlite:///{tmp_path / 'wb.db'}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 300 and message in done.stderr, done.stderr


# --- plan size -------------------------------------------------------------------------------------


def test_a_plan_too_large_to_hold_is_estimated_but_never_built(wb) -> None:
    from workbench.sweep import MAX_PLAN_CALLS, build_plan, estimate

    small = build_plan([(1, PROMPT)], 1, SAMPLES, ["gpt-4.1-nano", "o3-mini"], [0.0, 0.7], 3, "http://x/v1", wb.catalog)
    assert small.size == len(small.calls())  # the count agrees with the calls the runner gets
    huge = build_plan([(1, PROMPT)], 1, SAMPLES, ["gpt-4.1-nano"], [0.0], 3_000_000, "http://x/v1", wb.catalog)
    assert any("this plan has 18,000,000 calls" in note for note in huge.notes)
    assert estimate(huge)["calls"] == 18_000_000  # counted, not built
    with pytest.raises(InputError, match=r"this plan has 18,000,000 calls .* at most 1,000,000"):
        huge.calls()
    assert huge._calls is None
    assert MAX_PLAN_CALLS == 1_000_000


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.yaml").write_text(PROMPT_YAML)
    (tmp_path / "s.csv").write_text(SAMPLES_CSV)
    return subprocess.run(
        [sys.executable, "-m", "workbench", "sweep", "--prompt", "p.yaml", "--dataset", "s.csv", *args],
        env=cli_env("http://127.0.0.1:9/v1", f"sqlite:///{tmp_path / 'wb.db'}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_refuses_a_huge_repeat_count_by_its_budget_in_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--repeats", "3000000", "--max-cost", "0.01", "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: estimated cost $")
    assert "new calls exceeds the budget of $0.01; nothing was called" in done.stderr


def test_the_cli_refuses_a_plan_too_large_to_hold_in_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--repeats", "3000000", "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "this plan has" in line and "at most 1,000,000" in line
