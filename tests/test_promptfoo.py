"""Importing promptfoo configs: the two real examples from the promptfoo repository and handmade
configs for the other documented forms (see tests/data/promptfoo/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.datasets import load_samples
from workbench.errors import InputError
from workbench.promptfoo import ImportFailed, import_plan, parse_config, slug, sweep_grids
from workbench.promptfoo.cases import expected_assertion

DATA = Path(__file__).resolve().parent / "data" / "promptfoo"


def config(name: str) -> Path:
    return DATA / name / "promptfooconfig.yaml"


# --------------------------------------------------------------------------- the real examples


def test_f_score_example_imports_labels_samples_and_lists_the_rest() -> None:
    imported = parse_config(config("f-score"))
    [prompt] = imported.prompts
    assert prompt.name == "sentiment-analysis"
    assert prompt.labels == ("positive", "negative")
    assert prompt.description == "IMDB Review Sentiment Analysis"
    assert prompt.variables == ["text"]
    assert prompt.messages[0]["role"] == "user" and 'Review: "{{text}}"' in prompt.messages[0]["content"]
    assert prompt.params["response_format"]["json_schema"]["name"] == "MovieReviewSentiment"
    assert imported.models == ["gpt-4o-mini"]
    assert imported.temperatures == [0.0]  # promptfoo sends 0 when the provider sets none
    assert imported.repeats == 1
    assert imported.label_column == "sentiment"

    expected = load_samples(DATA / "f-score" / "imdb_eval_sample.csv", label_column="sentiment")
    assert imported.samples is not None
    assert imported.samples.content_hash == expected.content_hash
    assert imported.samples.samples == expected.samples  # same text, labels and row numbers
    assert imported.samples.label_counts() == {"negative": 52, "positive": 48}

    notes = "\n".join(imported.untranslated)
    for metric in ("accuracy", "true_positives", "false_positives", "false_negatives", "true_negatives"):
        assert f"assertion javascript (metric {metric})" in notes
    for derived in ("precision", "recall", "f1_score", "accuracy_score"):
        assert f"derivedMetrics {derived} =" in notes
    assert "assertion is-json" in notes


def test_getting_started_has_no_labels_and_says_so() -> None:
    with pytest.raises(InputError, match="no classification labels found") as error:
        parse_config(config("getting-started"))
    assert "labels=" in str(error.value) and "\n" not in str(error.value)


def test_getting_started_parses_prompts_and_providers_when_labels_are_forced() -> None:
    imported = parse_config(config("getting-started"), labels=["French", "Spanish"])
    assert [p.name for p in imported.prompts] == ["getting-started", "getting-started-2"]
    assert [p.messages for p in imported.prompts] == [
        ({"role": "user", "content": "Convert this English to {{language}}: {{input}}"},),
        ({"role": "user", "content": "Translate to {{language}}: {{input}}"},),
    ]
    assert all(p.labels == ("French", "Spanish") for p in imported.prompts)
    assert imported.models == ["gpt-4.1", "o4-mini"]
    assert imported.cells == [("gpt-4.1", 0.0), ("o4-mini", None)]  # reasoning models take no temperature
    assert imported.temperatures == [0.0, None]
    assert imported.samples is None
    notes = "\n".join(imported.untranslated)
    assert "assertion contains" in notes and "assertion icontains" in notes and "no gold label" in notes


# --------------------------------------------------------------------------- handmade forms


def test_file_prompts_csv_tests_and_a_temperature_grid() -> None:
    imported = parse_config(config("spam"))
    assert [p.name for p in imported.prompts] == ["prompts-1", "prompts-2", "chat-spam"]
    first, second, chat = imported.prompts
    assert first.messages == (
        {"role": "user", "content": "Is this message spam or ham? Answer with one word.\n\n{{message}}"},
    )
    assert second.messages == ({"role": "user", "content": "Classify as spam or ham: {{ message }}"},)
    assert [m["role"] for m in chat.messages] == ["system", "user"]
    assert chat.params == {"max_tokens": 3} and first.params == {}
    assert all(p.labels == ("spam", "ham") for p in imported.prompts)  # from equals: and plain __expected values
    assert all(p.description == "Spam or ham for the support inbox" for p in imported.prompts)
    assert imported.models == ["gpt-4.1-nano", "gpt-4.1-mini"]
    assert imported.cells == [("gpt-4.1-nano", 0.0), ("gpt-4.1-nano", 0.7), ("gpt-4.1-mini", 0.0)]
    assert imported.temperatures == [0.0, 0.7]
    assert imported.repeats == 3
    samples = imported.samples
    assert samples is not None and samples.label_column == "label" == imported.label_column
    assert samples.columns == ("message", "label")
    assert [(s.label, s.variables["message"], s.row) for s in samples.samples] == [
        ("spam", "WIN A FREE CRUISE, click now", 2),
        ("ham", "Hi, my order #123 never arrived", 3),
        ("spam", 'Cheap meds, "limited" offer', 4),
    ]
    notes = "\n".join(imported.untranslated)
    assert "anthropic:messages:claude-sonnet-4-20250514" in notes
    assert "evaluateOptions.maxConcurrency" in notes
    assert "assertion contains" in notes
    assert "1 test(s) without a gold label" in notes


def test_inline_prompts_refuse_nunjucks_and_merge_default_test() -> None:
    imported = parse_config(config("inline"))
    assert [p.name for p in imported.prompts] == ["topic-router", "literal-braces"]
    assert imported.prompts[1].messages[0]["content"] == 'Answer as {"topic": "..."} for: {{ticket}}'
    assert all(p.labels == ("billing", "shipping", "other") for p in imported.prompts)
    assert all(p.params == {"max_tokens": 4} for p in imported.prompts)  # from the provider config
    assert imported.cells == [("gpt-4.1-mini", 0.2)]
    samples = imported.samples
    assert samples is not None and samples.columns == ("ticket", "customer", "label")
    assert [(s.label, s.variables) for s in samples.samples] == [
        ("billing", {"ticket": "I was charged twice", "customer": "anonymous"}),
        ("shipping", {"ticket": "Where is my parcel?", "customer": "Ana"}),
        ("other", {"ticket": "Hello there", "customer": "anonymous"}),
    ]  # the test whose var is a list is left out
    notes = "\n".join(imported.untranslated)
    assert "prompt shouting" in notes and "{{ ticket | upper }}" in notes
    assert "prompt conditional" in notes and "{% if vip %}" in notes
    assert "assertion latency" in notes and "lists, objects" in notes
    assert "apiKey ignored" in notes
    assert "sk-handmade" not in notes  # a key in the config is never copied anywhere


def test_prompt_mapping_yaml_and_jsonl_tests_and_a_label_var() -> None:
    imported = parse_config(config("files"))
    [prompt] = imported.prompts
    assert prompt.name == "urgency" and prompt.labels == ("urgent", "routine")
    assert imported.cells == [("gpt-4.1-nano", 0.0)]
    samples = imported.samples
    assert samples is not None and samples.label_column == "label"
    assert [(s.label, s.variables["text"], s.row) for s in samples.samples] == [
        ("urgent", "Server is down!", 0),
        ("routine", "Lunch menu for Friday", 0),
        ("urgent", "Payment system outage", 1),
        ("routine", "Newsletter draft", 3),
    ]


def test_config_whose_prompts_are_all_nunjucks_is_refused() -> None:
    with pytest.raises(InputError, match="no prompt could be imported") as error:
        parse_config(config("nunjucks-only"))
    assert "truncate" in str(error.value)


def test_import_plan_is_json_ready() -> None:
    plan = import_plan(parse_config(config("spam")))
    assert json.loads(json.dumps(plan)) == plan
    assert [p["name"] for p in plan["prompt_files"]] == ["prompts-1", "prompts-2", "chat-spam"]
    assert plan["models"] == ["gpt-4.1-nano", "gpt-4.1-mini"]
    assert plan["temperatures"] == [0.0, 0.7]
    assert plan["repeats"] == 3 and plan["label_column"] == "label" and plan["samples"] == 3


# --------------------------------------------------------------------------- errors and small pieces


def write(tmp_path: Path, text: str, name: str = "promptfooconfig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_prompt_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "prompts: [file://nowhere.txt]\nproviders: [openai:gpt-4.1-nano]\n")
    with pytest.raises(InputError, match=r"file://nowhere.txt not found"):
        parse_config(path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "prompts:\n  - 'unclosed\nproviders: [\n")
    with pytest.raises(InputError, match="broken YAML at line"):
        parse_config(path)


def test_missing_config_and_bad_repeat(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such promptfoo config"):
        parse_config(tmp_path / "absent.yaml")
    path = write(tmp_path, "prompts: ['{{x}}']\nevaluateOptions: {repeat: 0}\n")
    with pytest.raises(InputError, match="repeat"):
        parse_config(path, labels=["a", "b"])


def test_chat_json_inline_prompt_and_python_prompt_function(tmp_path: Path) -> None:
    chat = json.dumps([{"role": "system", "content": "Say yes or no."}, {"role": "user", "content": "{{q}}"}])
    path = write(
        tmp_path,
        f"prompts:\n  - {json.dumps(chat)}\n  - file://prompt.py:make_prompt\n"
        "providers:\n  - openai:chat:gpt-4.1-nano\n  - id: openai:embedding:text-embedding-3-small\n"
        "tests:\n  - vars: {q: 'Is it raining?'}\n    assert: [{type: equals, value: 'yes'}]\n",
    )
    imported = parse_config(path, labels=["yes", "no"])
    assert [m["role"] for m in imported.prompts[0].messages] == ["system", "user"]
    notes = "\n".join(imported.untranslated)
    assert "prompt function" in notes and "openai:embedding" in notes
    assert imported.samples is not None and imported.samples.samples[0].label == "yes"


def test_expected_column_values() -> None:
    assert expected_assertion("spam") == {"type": "equals", "value": "spam"}
    assert expected_assertion("equals:not spam") == {"type": "equals", "value": "not spam"}
    assert expected_assertion("contains:password")["type"] == "contains"
    assert expected_assertion("similar(0.8):hello")["type"] == "similar(0.8)"
    assert expected_assertion("is-json") == {"type": "is-json"}
    assert expected_assertion("note: urgent") == {"type": "equals", "value": "note: urgent"}


def test_slug() -> None:
    assert slug("Sentiment Analysis") == "sentiment-analysis"
    assert slug("Über-Prompt v2!") == "uber-prompt-v2"
    assert slug("???") == "promptfoo-prompt"
    assert len(slug("x" * 200)) == 80


# --------------------------------------------------------------------------- what promptfoo would run


def test_provider_prompts_limit_the_cells_to_what_promptfoo_runs() -> None:
    """providers[].prompts: nano runs only 'terse', mini only 'polite', gpt-4.1 both, 4o-mini none."""
    imported = parse_config(config("provider-prompts"))
    assert imported.planned == [
        ("terse", "gpt-4.1-nano", 0.0),
        ("polite", "gpt-4.1-mini", 0.5),
        ("terse", "gpt-4.1", 0.0),
        ("polite", "gpt-4.1", 0.0),
    ]  # 4 cells x 2 samples = 8 calls, as promptfoo makes; the cross product would be 16
    assert "prompts entry missing-prompt matches no imported prompt" in "\n".join(imported.untranslated)
    assert import_plan(imported)["cells"][1] == {"prompt": "polite", "model": "gpt-4.1-mini", "temperature": 0.5}


def test_exact_provider_pairs_stay_pairs() -> None:
    """spam: nano at 0 and 0.7, mini at 0 only: 3 pairs per prompt, not models x temperatures (4)."""
    imported = parse_config(config("spam"))
    pairs = {(model, t) for _, model, t in imported.planned}
    assert pairs == {("gpt-4.1-nano", 0.0), ("gpt-4.1-nano", 0.7), ("gpt-4.1-mini", 0.0)}
    assert len(imported.planned) == 3 * len(imported.prompts)
    grids = sweep_grids(imported.planned)
    covered = [(p, m, t) for prompts, models, temps in grids for p in prompts for m in models for t in temps]
    assert sorted(covered, key=str) == sorted(imported.planned, key=str)  # exactly the plan, nothing more


def test_transformed_answers_give_no_gold_labels() -> None:
    imported = parse_config(config("transform"))
    assert imported.samples is not None
    assert [(s.label, s.variables["ticket"]) for s in imported.samples.samples] == [
        ("high", "Server down"),
        ("low", "Logo slightly blurry"),
    ]  # the equals after options.transform and the equals with its own transform are not gold labels
    notes = "\n".join(imported.untranslated)
    assert "test options.transform" in notes and "assertion equals with transform output.toUpperCase()" in notes
    assert "2 test(s) without a gold label" in notes


def test_default_test_transform_is_noted_and_its_equals_are_not_gold(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "prompts: ['Spam? {{m}}']\nproviders: [openai:chat:gpt-4.1-nano]\n"
        "defaultTest:\n  options: {transform: 'output.trim()'}\n"
        "tests:\n  - vars: {m: hi}\n    assert: [{type: equals, value: ham}]\n"
        "  - vars: {m: buy, label: spam}\n",
    )
    imported = parse_config(path, labels=["spam", "ham"])
    assert [(s.label, s.variables["m"]) for s in imported.samples.samples] == [("spam", "buy")]
    assert "defaultTest options.transform output.trim()" in "\n".join(imported.untranslated)


def test_a_failed_import_still_lists_what_would_not_translate() -> None:
    with pytest.raises(ImportFailed, match="no classification labels found") as error:
        parse_config(config("getting-started"))
    assert any("assertion contains" in line for line in error.value.untranslated)
    assert any("no gold label" in line for line in error.value.untranslated)


# --------------------------------------------------------------------------- the CLI


def test_cli_writes_prompts_and_samples_and_prints_the_sweeps_that_run_the_plan(
    tmp_path: Path, run_cli, fake_server
) -> None:
    import shlex

    folder = tmp_path / "imported"
    code, out, err = run_cli(["import-promptfoo", config("provider-prompts"), "--write-prompts", folder])
    assert code == 0, err
    imported = parse_config(config("provider-prompts"))
    written = load_samples(folder / "samples.csv")
    assert written.content_hash == imported.samples.content_hash and written.columns == imported.samples.columns
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("python -m workbench sweep")]
    assert len(commands) == 3  # nano runs terse, mini polite at 0.5, gpt-4.1 both: three grids
    for command in commands:
        code, out, err = run_cli([*shlex.split(command)[3:], "--json", "--quiet"])
        assert code == 0, err
    sent = [(r["body"]["model"], r["body"].get("temperature"), r["body"]["messages"][0]["content"][:6])
            for r in fake_server.chat_requests()]  # fmt: skip
    assert sorted(sent) == sorted(
        (model, temperature, text)
        for prompt, model, temperature in imported.planned
        for text in ("Refund" if prompt == "terse" else "Please",) * len(imported.samples)
    )  # 8 calls, exactly the planned cells; the cross product would make 16


def test_cli_json_lists_the_planned_cells(run_cli) -> None:
    code, out, err = run_cli(["import-promptfoo", config("provider-prompts"), "--json"])
    assert code == 0, err
    plan = json.loads(out)
    assert [(c["prompt"], c["model"]) for c in plan["cells"]] == [
        ("terse", "gpt-4.1-nano"),
        ("polite", "gpt-4.1-mini"),
        ("terse", "gpt-4.1"),
        ("polite", "gpt-4.1"),
    ]


def test_cli_failed_import_names_the_problem_and_lists_what_would_not_translate(run_cli) -> None:
    code, out, err = run_cli(["import-promptfoo", config("getting-started")])
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and "no classification labels found" in lines[0]
    assert "not translated:" in lines and any("assertion icontains" in line for line in lines)
    assert "Traceback" not in err


# --------------------------------------------------------------------------- read as promptfoo reads


def test_csv_prompt_files_give_one_prompt_per_row() -> None:
    """promptfoo's csv-prompts example: a prompt,label CSV (one row a chat JSON prompt)."""
    imported = parse_config(config("csv-prompts"), labels=["ok", "not ok"])
    assert [p.name for p in imported.prompts] == ["basic-query", "eli5", "academic", "poetry", "facts"]
    assert imported.prompts[0].messages == ({"role": "user", "content": "Tell me about {{topic}}"},)
    assert [m["role"] for m in imported.prompts[2].messages] == ["system", "user"]
    assert "provider echo: only OpenAI chat models are imported" in imported.untranslated


def test_csv_prompt_files_without_a_delimiter_keep_each_line_as_written(tmp_path: Path) -> None:
    import shutil

    for name in ("no-header.csv", "single-column.csv"):
        shutil.copy(DATA / "csv-prompts" / name, tmp_path / name)
    path = write(tmp_path, "prompts: [file://no-header.csv, file://single-column.csv]\nproviders: [openai:gpt-4.1]\n")
    imported = parse_config(path, labels=["a", "b"])
    texts = [p.messages[0]["content"] for p in imported.prompts]
    assert len(texts) == 10  # the 'prompt' header line of single-column.csv is not a prompt
    assert texts[0] == '"Tell me about {{topic}}"' and texts[4] == '"How does {{topic}} impact everyday life?"'
    assert texts[5:] == texts[:5]


def test_vars_are_the_text_promptfoo_sends(tmp_path: Path) -> None:
    """YAML 1.2 as promptfoo reads it: Yes/on/1_000/12:30 stay text; 0123, 1e3, 1.50 are numbers written as JS does."""
    values = ["Yes", "on", "0123", "1_000", "12:30", "1e3", "1.50", "0o17", "~", "True", "'0123'", "2024-01-01"]
    tests = "".join(f"  - vars: {{v: {v}}}\n    assert: [{{type: equals, value: a}}]\n" for v in values)
    path = write(tmp_path, f"prompts: ['{{{{v}}}}']\nproviders: [openai:gpt-4.1]\ntests:\n{tests}")
    imported = parse_config(path, labels=["a", "b"])
    assert [s.variables["v"] for s in imported.samples.samples] == [
        "Yes", "on", "123", "1_000", "12:30", "1000", "1.5", "15", "", "true", "0123",
    ]  # fmt: skip
    assert any("YAML dates" in line for line in imported.untranslated)  # promptfoo would send [object Object]


def test_provider_transform_and_other_options_are_noted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "prompts: ['{{q}}']\nproviders:\n  - id: openai:chat:gpt-4.1-nano\n    transform: output.trim()\n"
        "    delay: 100\n    label: nano\n",
    )
    notes = "\n".join(parse_config(path, labels=["a", "b"]).untranslated)
    assert "provider openai:chat:gpt-4.1-nano: transform output.trim() not translated" in notes
    assert "provider openai:chat:gpt-4.1-nano: delay not translated" in notes and "label" not in notes
