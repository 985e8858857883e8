"""The exported promptfoo config run by the real promptfoo CLI against the loopback server.

The workbench measures a cell with ``sweep``, exports it with ``export --format promptfoo``, and
promptfoo (the pinned version the export's header names, installed from npm into a cache) runs the
file against the same deterministic server. promptfoo must send every sample text literally (the
same chat messages the workbench sent), score the same answers the same way (pass rate = the
workbench's accuracy) and exit as the carried pass-rate threshold says. The sample texts carry
what promptfoo would otherwise rewrite: ``{{label}}`` and other ``{{var}}``, ``{{ env.NAME }}``,
nunjucks tags, ``file://`` and ``package:`` prefixes, a trailing line break and YAML 1.2 numbers.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.support.export_cases import PROMPT
from tests.support.fake_openai import FakeOpenAI, last_user_text
from tests.support.promptfoo_cli import run_eval
from workbench.promptfile import save_prompt

pytestmark = pytest.mark.slow

# What promptfoo would change in a var's text, each after a marker the fake model cannot miss.
TRICKY = [
    "{{label}}",
    "{{ text }} twice {{text}}",
    "{{ env.HOME }} and {{env.PATH | upper}}",
    "{{__evalId}} {{ _conversation }}",
    "{% if label %}gold{% endif %} {# comment #} {% raw %}",
    "file://notes.txt",
    "package:left-pad:leftPad",
    "ends with a line break\n",
    "0o17",
    "1e3",
    "Yes",
    "{{{label}}}",
    "{",
    "}}{{",
]
LABELS = ("positive", "negative", "neutral")


def sample_rows() -> list[tuple[str, str]]:
    """(text, gold) for 42 samples; 14 tricky texts, each text starting with a marker ``rNN``."""
    rows = []
    for number in range(42):
        tail = TRICKY[number % len(TRICKY)] if number % 3 == 0 else f"plain review {number}"
        rows.append((f"r{number:02d} {tail}", LABELS[number % 3]))
    return rows


def reading_model(body: dict, call_index: int) -> str:
    """A model that reads the text: a label word in it wins (so a leaked gold label changes the answer);
    otherwise right for most markers, wrong or unparsable for some."""
    text = last_user_text(body)
    for word in LABELS:
        if word in text.lower():
            return word.capitalize()
    number = int(text.split("Review: r", 1)[1][:2])
    if number % 7 == 3:
        return "I cannot tell"
    gold = LABELS[number % 3]
    return gold if number % 5 else LABELS[(number + 1) % 3]


def worse_model(body: dict, call_index: int) -> str:
    """The reading model, wrong on the first four samples it was right on (r01, r02, r04, r07)."""
    number = int(last_user_text(body).split("Review: r", 1)[1][:2])
    return "I cannot tell" if number in (1, 2, 4, 7) else reading_model(body, call_index)


def canonical(body: object) -> str:
    """A request body as text, numbers as floats (JavaScript sends 0 where Python sends 0.0)."""

    def numbers(value: object) -> object:
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    return json.dumps(numbers(body), sort_keys=True)


def write_inputs(folder: Path) -> tuple[Path, Path]:
    prompt = save_prompt(PROMPT, folder / "prompt.yaml")
    dataset = folder / "samples.csv"
    with dataset.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(sample_rows())
    return Path(prompt), dataset


def test_promptfoo_scores_the_export_like_the_workbench(tmp_path: Path, run_cli) -> None:
    server_answers = reading_model
    prompt, dataset = write_inputs(tmp_path)
    fake = FakeOpenAI(api_keys={TEST_KEY}, responder=server_answers)
    try:
        env = {"OPENAI_BASE_URL": fake.base_url}
        code, out, err = run_cli(
            ["sweep", "--prompt", prompt, "--dataset", dataset, "--models", "gpt-4.1-nano", "--json", "--quiet"],
            env=env,
        )
        assert code == 0, err
        result = json.loads(out)
        [cell] = result["cells"]
        workbench_bodies = Counter(canonical(r["body"]) for r in fake.chat_requests())
        config = tmp_path / "pf" / "promptfooconfig.yaml"
        config.parent.mkdir()
        code, _, err = run_cli(
            ["export", "--run", result["run_id"], "--format", "promptfoo", "--output", config], env=env
        )
        assert code == 0, err
        fake.reset()

        exit_code, output, log = run_eval(config, fake.base_url, TEST_KEY)
        promptfoo_bodies = Counter(canonical(r["body"]) for r in fake.chat_requests())

        fake.responder = worse_model  # the model drifts: 4 more wrong answers, below the threshold
        worse_code, worse, _ = run_eval(config, fake.base_url, TEST_KEY)
    finally:
        fake.close()

    stats = output["results"]["stats"]
    assert stats["errors"] == 0, log[-2000:]
    # Every request was the workbench's: sample texts literally, the same temperature and params.
    assert promptfoo_bodies == workbench_bodies
    assert sum(promptfoo_bodies.values()) == len(sample_rows()) == cell["n"]
    # The same answers, scored the same: promptfoo's pass rate is the workbench's accuracy.
    assert stats["successes"] / (stats["successes"] + stats["failures"]) == pytest.approx(cell["accuracy"])
    assert 0.5 < cell["accuracy"] < 1.0  # some wrong and unparsable answers, so the comparison means something
    assert exit_code == 0, log[-2000:]  # at the measured accuracy, above the threshold (accuracy - 5 points)
    worse_stats = worse["results"]["stats"]
    assert worse_stats["successes"] == stats["successes"] - 4
    assert worse_code == 100  # 4/42 = 9.5 points below: promptfoo fails the run


def test_workbench_reads_yaml_scalars_as_promptfoos_js_yaml_does(tmp_path: Path) -> None:
    """workbench.export.jsyaml against the js-yaml inside the installed promptfoo, on YAML 1.1/1.2 edge cases."""
    import subprocess

    from tests.support.promptfoo_cli import cache_dir, promptfoo_command
    from workbench.export.jsyaml import load, scalar_text

    node = promptfoo_command()[0]
    scalars = [
        "Yes", "No", "on", "off", "y", "n", "0123", "1_000", "12:30", "0o17", "0b101", "0x1F", "1e3", "+1",
        ".5", "1.", "1.50", "3.0", "-0", "00", "~", "null", "Null", "True", "FALSE", ".inf", "-.Inf", ".NaN",
        "12345678901234567890", "0.1e-7", "1e21", "'quoted'", "plain text", "2024-01-01",
    ]  # fmt: skip
    document = "".join(f"- {s}\n" for s in scalars)
    script = tmp_path / "read.cjs"
    script.write_text(
        "const yaml = require(process.argv[2]);\n"
        "const schema = yaml.CORE_SCHEMA.withTags(yaml.mergeTag, yaml.timestampTag);\n"  # promptfoo's loadYaml
        "const values = yaml.load(require('fs').readFileSync(0, 'utf8'), { schema });\n"
        "console.log(JSON.stringify(values.map((v) => v instanceof Date ? null : v === null ? '' : String(v))));\n",
        encoding="utf-8",
    )
    js_yaml = cache_dir() / "node_modules" / "js-yaml"
    done = subprocess.run(
        [node, str(script), str(js_yaml)], input=document, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [scalar_text(v) for v in load(document)] == json.loads(done.stdout)


IMPORT_CONFIG = """\
prompts:
  - file://prompts.csv
  - file://single-column.csv
  - file://no-header.csv
  - 'Plain {{topic}} text'
providers:
  - echo
tests:
"""
YAML_VALUES = ["Yes", "0123", "1_000", "12:30", "1e3", "1.50", "on", "~", "0o17", "No", "True", "0x1F", "'0123'"]


def test_imported_prompts_and_vars_are_what_promptfoo_sends(tmp_path: Path) -> None:
    """promptfoo's echo provider returns each rendered prompt: the import must render to the same text,
    for CSV prompt files (one prompt per row, with and without a header or a delimiter) and for vars
    written as YAML 1.1 booleans, octals, sexagesimals and numbers."""
    import shutil

    from tests.support.export_cases import DATA
    from workbench.chat import request_body
    from workbench.promptfoo import parse_config

    for name in ("prompts.csv", "single-column.csv", "no-header.csv"):
        shutil.copy(DATA / "csv-prompts" / name, tmp_path / name)
    tests = "".join(f"  - vars: {{topic: {v}, label: {'ab'[k % 2]}}}\n" for k, v in enumerate(YAML_VALUES))
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(IMPORT_CONFIG + tests, encoding="utf-8")

    _, output, log = run_eval(config, "http://127.0.0.1:9", TEST_KEY)  # echo: no server is called
    imported = parse_config(config)
    assert len(imported.prompts) == 5 + 5 + 5 + 1  # one prompt per CSV row, as promptfoo reads them
    assert imported.samples is not None and len(imported.samples) == len(YAML_VALUES)
    results = output["results"]["results"]
    assert len(results) == len(imported.prompts) * len(YAML_VALUES), log[-2000:]
    for result in results:
        prompt = imported.prompts[result["promptIdx"]]
        sample = imported.samples.samples[result["testIdx"]]
        messages = request_body(prompt, "gpt-4.1-nano", 0.0, sample.variables)["messages"]
        sent = result["response"]["output"]
        if len(prompt.messages) == 1 and not sent.lstrip().startswith("["):
            assert sent == messages[0]["content"], (prompt.name, sample.variables)
        else:
            assert json.loads(sent) == messages, (prompt.name, sample.variables)
