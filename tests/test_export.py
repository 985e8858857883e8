"""Exports are executed, not just generated: the Python script, the curl command and the pytest file
run against a loopback fake OpenAI server, and what they send must be exactly ``request_body`` for
the same input. The JavaScript side (TypeScript, the promptfoo assertion and YAML) is in
``test_export_js.py``."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.export_cases import (
    ANSWERS,
    INPUTS,
    KEY,
    PARSE_CASES,
    PROMPT,
    SPEC,
    TWO_VARS,
    answer_by_marker,
    child_env,
    run,
    samples_for,
)
from tests.support.fake_openai import FakeOpenAI, last_user_text
from workbench import scoring
from workbench.datasets import Sample, SampleSet
from workbench.errors import InputError
from workbench.export import FORMATS, ExportSpec, filename, render, request_body
from workbench.export.python_code import scoring_source
from workbench.export.spec import header_lines
from workbench.scoring import parse_label

# --------------------------------------------------------------------------- request_body, the contract


def test_request_body_key_order_and_contents() -> None:
    body = request_body(PROMPT, "gpt-4.1-nano", 0.3)
    assert list(body) == ["model", "messages", "temperature", "max_tokens", "seed", "stop"]
    assert body["messages"] == [dict(m) for m in PROMPT.messages]
    assert body["messages"][1]["content"] == "Review: {{text}}"
    assert body["temperature"] == 0.3


def test_request_body_without_temperature_and_with_values() -> None:
    body = request_body(PROMPT, "o4-mini", None, {"text": "{{label}} stays literal"})
    assert "temperature" not in body
    assert list(body) == ["model", "messages", "max_tokens", "seed", "stop"]
    assert body["messages"][1]["content"] == "Review: {{label}} stays literal"


def test_request_body_unknown_variable_is_an_input_error() -> None:
    with pytest.raises(InputError, match="text"):
        request_body(PROMPT, "gpt-4.1-nano", 0, {"other": "x"})


def test_export_uses_the_runners_request_body() -> None:
    """One definition of the request: the exporter's request_body is the one the sweep sends."""
    from workbench import chat

    assert request_body is chat.request_body


def test_unknown_format_is_an_input_error() -> None:
    assert FORMATS == ("python", "typescript", "curl", "json", "promptfoo", "pytest")
    with pytest.raises(InputError, match="unknown export format 'rust'"):
        render(SPEC, "rust")


def test_spec_rejects_a_bad_temperature() -> None:
    with pytest.raises(InputError, match="temperature"):
        ExportSpec(PROMPT, "gpt-4.1-nano", "hot")  # type: ignore[arg-type]


def test_filenames() -> None:
    assert filename(SPEC, "python") == "tricky_sentiment_classifier.py"
    assert filename(SPEC, "typescript") == "tricky_sentiment_classifier.ts"
    assert filename(SPEC, "pytest") == "test_tricky_sentiment.py"
    assert filename(SPEC, "promptfoo") == "promptfooconfig.yaml"
    assert filename(SPEC, "curl").endswith(".sh")


@pytest.mark.parametrize("fmt", ["python", "typescript", "curl", "json", "promptfoo"])
def test_every_export_is_key_free_and_says_where_it_came_from(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    samples = samples_for(PROMPT, [("positive", {"text": "good"})])
    text = render(SPEC, fmt, samples)
    assert KEY not in text
    assert "sk-" not in text
    if fmt == "json":
        return
    for needle in ("tricky-sentiment", PROMPT.content_hash[:12], "run 42", "2025-06-01", "gpt-4.1-nano"):
        assert needle in text
    assert "87.5%" in text and "71.0% to 95.0%" in text and "n = 40" in text and "$0.0123" in text


def test_header_names_the_version_and_counts_samples() -> None:
    """Issue 15: the provenance names the prompt version and says samples x repeats, not calls as samples."""
    spec = dataclasses.replace(SPEC, samples=20, repeats=2, version="tricky-sentiment v2 · shorter")
    lines = header_lines(spec)
    assert f"Prompt: tricky-sentiment v2 · shorter (content hash {PROMPT.content_hash[:12]})" in lines
    measured = next(line for line in lines if line.startswith("Measured accuracy"))
    assert "20 samples × 2 repeats, 40 answers" in measured and "samples as the unit" in measured


def test_header_says_when_nothing_was_measured() -> None:
    text = render(ExportSpec(PROMPT, "o4-mini", None), "python")
    assert "not measured" in text and "run not recorded" in text and "not sent" in text


# --------------------------------------------------------------------------- json and curl


def test_json_export_is_the_request_body() -> None:
    assert json.loads(render(SPEC, "json")) == request_body(PROMPT, "gpt-4.1-nano", 0.0)
    rendered = json.loads(render(SPEC, "json", values={"text": INPUTS[0]}))
    assert rendered == request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": INPUTS[0]})


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl")
def test_curl_export_sends_the_request_body(tmp_path: Path) -> None:
    with FakeOpenAI(api_keys={KEY}, responder=answer_by_marker) as server:
        for values in ({"text": INPUTS[0]}, {"text": INPUTS[1]}, None):
            script = tmp_path / "request.sh"
            script.write_text(render(SPEC, "curl", values=values), encoding="utf-8")
            done = run(["bash", str(script)], tmp_path, child_env(server.base_url))
            assert done.returncode == 0, done.stderr.decode()
            reply = json.loads(done.stdout)
            assert reply["object"] == "chat.completion"
        bodies = [r["body"] for r in server.chat_requests()]
        headers = [r["headers"]["authorization"] for r in server.chat_requests()]
    assert bodies == [
        request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": INPUTS[0]}),
        request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": INPUTS[1]}),
        request_body(PROMPT, "gpt-4.1-nano", 0.0),
    ]
    assert headers == [f"Bearer {KEY}"] * 3
    assert "# Replace {{text}}" in render(SPEC, "curl")
    assert "# Replace" not in render(SPEC, "curl", values={"text": "x"})


# --------------------------------------------------------------------------- python


def test_python_script_sends_the_measured_request_and_prints_labels(tmp_path: Path) -> None:
    script = tmp_path / "classifier.py"
    script.write_text(render(SPEC, "python"), encoding="utf-8")
    with FakeOpenAI(api_keys={KEY}, responder=answer_by_marker) as server:
        done = run([sys.executable, str(script)], tmp_path, child_env(server.base_url), "\n".join(INPUTS) + "\n")
        assert done.returncode == 0, done.stderr.decode()
        records = server.chat_requests()
    assert [r["body"] for r in records] == [request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": t}) for t in INPUTS]
    assert {r["headers"]["authorization"] for r in records} == {f"Bearer {KEY}"}
    printed = done.stdout.decode("utf-8").splitlines()
    expected = [parse_label(ANSWERS[t[:2]], PROMPT.labels) for t in INPUTS]
    assert printed == expected == ["positive", "negative", "neutral", "unparsed", "not positive"]


def test_python_script_with_several_variables_reads_jsonl_and_omits_temperature(tmp_path: Path) -> None:
    spec = ExportSpec(TWO_VARS, "gpt-4.1-mini", None)
    script = tmp_path / "topic.py"
    script.write_text(render(spec, "python"), encoding="utf-8")
    rows = [{"subject": "m1 Refund", "body": "charged twice"}, {"subject": "m2 Parcel", "body": 'where is it? "late"'}]
    answers = {"m1": "billing", "m2": "Shipping."}
    responder = lambda body, i: next(a for m, a in answers.items() if m in last_user_text(body))  # noqa: E731
    stdin = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    with FakeOpenAI(api_keys={KEY}, responder=responder) as server:
        done = run([sys.executable, str(script)], tmp_path, child_env(server.base_url), stdin)
        assert done.returncode == 0, done.stderr.decode()
        bodies = [r["body"] for r in server.chat_requests()]
    assert bodies == [request_body(TWO_VARS, "gpt-4.1-mini", None, r) for r in rows]
    assert all("temperature" not in b for b in bodies)
    assert done.stdout.decode().split() == ["billing", "shipping"]


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_module_inlines_the_one_label_parser(tmp_path: Path) -> None:
    text = render(SPEC, "python")
    assert scoring_source() in text
    assert scoring.__doc__.splitlines()[0] not in text  # the docstring header is dropped
    path = tmp_path / "exported_classifier.py"
    path.write_text(text, encoding="utf-8")
    module = load_module(path, "exported_classifier")
    assert list(PROMPT.labels) == module.LABELS
    for output, labels in PARSE_CASES:
        assert module.parse_label(output, labels) == parse_label(output, labels)


def test_python_exports_are_lint_clean(tmp_path: Path) -> None:
    """Shipped code should pass a linter: no undefined names, sorted imports, formatter-stable."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).is_file():
        pytest.skip("ruff is not installed")
    (tmp_path / "classifier.py").write_text(render(SPEC, "python"), encoding="utf-8")
    (tmp_path / "test_classifier.py").write_text(
        render(SPEC, "pytest", samples_for(PROMPT, PYTEST_ROWS)), encoding="utf-8"
    )
    files = [str(tmp_path / "classifier.py"), str(tmp_path / "test_classifier.py")]
    check = [ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--ignore", "E501", *files]
    done = run(check, tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stdout.decode()
    done = run([ruff, "format", "--isolated", "--line-length", "120", "--check", *files], tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stdout.decode()


def test_python_module_renders_like_the_workbench(tmp_path: Path) -> None:
    path = tmp_path / "exported_render.py"
    path.write_text(render(ExportSpec(TWO_VARS, "gpt-4.1-nano", 0.5), "python"), encoding="utf-8")
    module = load_module(path, "exported_render")
    values = {"subject": "{{body}} {0} %s", "body": "x\\y {% raw %}"}
    assert module.render_messages(**values) == request_body(TWO_VARS, "m", 0, values)["messages"]
    assert module.request_body(**values) == request_body(TWO_VARS, "gpt-4.1-nano", 0.5, values)
    with pytest.raises(KeyError, match="missing variable 'body'"):
        module.render_messages(subject="only one")


# --------------------------------------------------------------------------- pytest


def run_exported_test(tmp_path: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    path = tmp_path / "test_exported.py"
    path.write_text(text, encoding="utf-8")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(path)]
    return run(args, tmp_path, env)


PYTEST_ROWS = [
    ("positive", {"text": "m1 Loved it"}),
    ("negative", {"text": "m2 Broke"}),
    ("neutral", {"text": "m3 A product"}),
    ("negative", {"text": "m4 Mixed"}),
]


def test_pytest_export_passes_when_accuracy_holds(tmp_path: Path) -> None:
    samples = samples_for(PROMPT, PYTEST_ROWS)
    text = render(SPEC, "pytest", samples, margin=0.1)  # measured 0.875 -> threshold 0.775; gets 3/4 = 0.75
    assert "THRESHOLD = 0.775" in text
    lenient = render(SPEC, "pytest", samples, margin=0.2)  # threshold 0.675
    with FakeOpenAI(api_keys={KEY}, responder=answer_by_marker) as server:
        failed = run_exported_test(tmp_path, text, child_env(server.base_url))
        passed = run_exported_test(tmp_path, lenient, child_env(server.base_url))
        bodies = [r["body"] for r in server.chat_requests()]
    assert failed.returncode == 1, failed.stdout.decode()
    assert "accuracy 0.750 on 4 samples is below 0.775" in failed.stdout.decode()
    assert passed.returncode == 0, passed.stdout.decode()
    assert "1 passed" in passed.stdout.decode()
    assert bodies[:4] == [request_body(PROMPT, "gpt-4.1-nano", 0.0, v) for _, v in PYTEST_ROWS]


def test_pytest_export_skips_without_a_key(tmp_path: Path) -> None:
    text = render(SPEC, "pytest", samples_for(PROMPT, PYTEST_ROWS))
    done = run_exported_test(tmp_path, text, child_env(None, key=None))
    assert done.returncode == 0, done.stdout.decode()
    assert "1 skipped" in done.stdout.decode()


def test_pytest_export_needs_samples_and_accuracy() -> None:
    with pytest.raises(InputError, match="samples"):
        render(SPEC, "pytest")
    with pytest.raises(InputError, match="accuracy"):
        render(ExportSpec(PROMPT, "gpt-4.1-nano", 0), "pytest", samples_for(PROMPT, PYTEST_ROWS))
    wrong = SampleSet("x", "label", ("review", "label"), (Sample(0, "positive", {"review": "a"}),))
    with pytest.raises(InputError, match="'text'"):
        render(SPEC, "pytest", wrong)


def test_the_promptfoo_export_of_a_reasoning_cell_sends_the_body_the_sweep_sent():
    """Effort, max_completion_tokens and no temperature: promptfoo gets the measured body, not a default one."""
    import yaml

    from workbench.pricing import Catalog

    info = Catalog.load().lookup("gpt-6-luna")
    spec = ExportSpec(PROMPT, "gpt-6-luna", None, reasoning_effort="low", model_info=info)
    [provider] = yaml.safe_load(render(spec, "promptfoo"))["providers"]
    sent = {key: value for key, value in spec.body().items() if key not in ("model", "messages")}
    assert provider["config"]["passthrough"] == sent
    assert sent["reasoning_effort"] == "low" and "max_tokens" not in sent and "temperature" not in sent
    assert provider["label"] == "gpt-6-luna @ effort low"
