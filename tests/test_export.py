"""Exports are executed, not just generated: the Python script, the curl command, the pytest file
and (when a TypeScript compiler can be had) the TypeScript module all run against a loopback fake
OpenAI server, and what they send must be exactly ``request_body`` for the same input."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI, last_user_text
from workbench import scoring
from workbench.datasets import Sample, SampleSet, load_samples
from workbench.errors import InputError
from workbench.export import FORMATS, ExportSpec, filename, render, render_promptfoo, request_body
from workbench.export.promptfoo_yaml import assertion_js, to_nunjucks
from workbench.export.python_code import scoring_source
from workbench.export.typescript import parse_label_js
from workbench.promptfile import PromptFile, prompt_from_dict
from workbench.promptfoo import parse_config
from workbench.scoring import parse_label

KEY = "sk-test-export-0123456789"
DATA = Path(__file__).resolve().parent / "data" / "promptfoo"

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


# --------------------------------------------------------------------------- the JavaScript label rule

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


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    return node


def run_node(tmp_path: Path, source: str) -> str:
    script = tmp_path / "check.cjs"
    script.write_text(source, encoding="utf-8")
    done = run([node_or_skip(), str(script)], tmp_path, child_env(None, key=None), timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8")


def test_javascript_port_matches_the_python_rule(tmp_path: Path) -> None:
    cases = [[output, list(labels)] for output, labels in PARSE_CASES]
    source = (
        parse_label_js()
        + f"const cases = {json.dumps(cases)};\n"
        + "console.log(JSON.stringify(cases.map(([o, l]) => parseLabel(o, l))));\n"
    )
    got = json.loads(run_node(tmp_path, source))
    assert got == [parse_label(output, labels) for output, labels in PARSE_CASES]


def test_promptfoo_assertion_scores_like_the_workbench(tmp_path: Path) -> None:
    body = assertion_js(LABELS3, "gold")
    checks = [(output, gold) for output, _ in PARSE_CASES[:11] for gold in ("positive", "negative")]
    checks.append(({"sentiment": "negative"}, "negative"))  # promptfoo hands JSON answers over parsed
    source = (
        f"const check = new Function('output', 'context', {json.dumps(body)});\n"
        f"const checks = {json.dumps(checks)};\n"
        "console.log(JSON.stringify(checks.map(([o, g]) => check(o, { vars: { gold: g } }))));\n"
    )
    got = json.loads(run_node(tmp_path, source))
    expected = [parse_label(o if isinstance(o, str | None) else json.dumps(o), LABELS3) == g for o, g in checks]
    assert got == expected
    assert any(got) and not all(got)


def test_promptfoo_assertion_survives_nunjucks() -> None:
    """promptfoo renders assertion values with nunjucks: the code must hold no tag openers, whatever the labels."""
    body = assertion_js(["{{a}}", "{% b %}", "{#c#}"], "gold{{x}}")
    assert not any(opener in body for opener in ("{{", "{%", "{#"))
    assert "\\u007b\\u007ba\\u007d\\u007d" in body


# --------------------------------------------------------------------------- typescript


def npm_package(request: pytest.FixtureRequest, factory: pytest.TempPathFactory, name: str, spec: str) -> Path:
    """An npm package from a global install, the pytest cache, or a one-time install into the cache.

    Skips (never fails) when neither node/npm nor the registry is available.
    """
    node_or_skip()
    npm = shutil.which("npm")
    store = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = Path(store.mkdir(f"npm-{name}")) if store is not None else factory.mktemp(f"npm-{name}")
    candidates = [cache / "node_modules" / name]
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False) if npm else None
    if root is not None and root.returncode == 0:
        candidates.insert(0, Path(root.stdout.strip()) / name)
    for candidate in candidates:
        if (candidate / "package.json").is_file():
            return candidate
    if npm is None:
        pytest.skip(f"no {name} package and no npm to install it")
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(cache), spec],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {spec} timed out (offline?)")
    if done.returncode != 0 or not (candidates[-1] / "package.json").is_file():
        pytest.skip(f"could not install {spec} with npm: {done.stderr.strip()[:200]}")
    return candidates[-1]


@pytest.fixture(scope="session")
def typescript_module(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return npm_package(request, tmp_path_factory, "typescript", "typescript@5")


@pytest.fixture(scope="session")
def nunjucks_module(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return npm_package(request, tmp_path_factory, "nunjucks", "nunjucks@3")


TRANSPILE = """
const ts = require(process.argv[2]);
const fs = require("fs");
const out = ts.transpileModule(fs.readFileSync(process.argv[3], "utf8"), {
  reportDiagnostics: true,
  fileName: "classifier.ts",
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, strict: true },
});
const problems = (out.diagnostics || []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\\n"));
if (problems.length) { console.error(problems.join("\\n")); process.exit(1); }
fs.writeFileSync(process.argv[4], out.outputText);
"""

# A stand-in for the openai npm package: the same constructor and chat.completions.create, over fetch.
FAKE_OPENAI_JS = """
export default class OpenAI {
  constructor() {
    const base = process.env.OPENAI_BASE_URL;
    const key = process.env.OPENAI_API_KEY;
    this.chat = { completions: { create: async (body) => {
      const response = await fetch(`${base}/chat/completions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    } } };
  }
}
"""


def test_typescript_export_compiles_and_runs(tmp_path: Path, typescript_module: Path) -> None:
    node = node_or_skip()
    source = tmp_path / "classifier.ts"
    source.write_text(render(SPEC, "typescript"), encoding="utf-8")
    transpile = tmp_path / "transpile.cjs"
    transpile.write_text(TRANSPILE, encoding="utf-8")
    compiled = tmp_path / "classifier.mjs"
    done = run([node, str(transpile), str(typescript_module), str(source), str(compiled)], tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stderr.decode()
    package = tmp_path / "node_modules" / "openai"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "openai", "type": "module", "main": "index.js"}')
    (package / "index.js").write_text(FAKE_OPENAI_JS)
    with FakeOpenAI(api_keys={KEY}, responder=answer_by_marker) as server:
        done = run([node, str(compiled)], tmp_path, child_env(server.base_url), "\n".join(INPUTS) + "\n")
        assert done.returncode == 0, done.stderr.decode()
        bodies = [r["body"] for r in server.chat_requests()]
    assert bodies == [request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": t}) for t in INPUTS]
    assert done.stdout.decode("utf-8").splitlines() == [parse_label(ANSWERS[t[:2]], PROMPT.labels) for t in INPUTS]


# --------------------------------------------------------------------------- promptfoo round trip


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_same_samples(imported: SampleSet | None, original: SampleSet, variables: list[str]) -> None:
    assert imported is not None
    assert imported.label_column == original.label_column
    assert [s.label for s in imported.samples] == [s.label for s in original.samples]
    assert [s.variables for s in imported.samples] == [{v: s.variables[v] for v in variables} for s in original.samples]


def test_promptfoo_export_round_trips(tmp_path: Path) -> None:
    samples = samples_for(PROMPT, [("positive", {"text": t}) for t in INPUTS] + [("neutral", {"text": NASTY})])
    path = write_config(tmp_path, render(SPEC, "promptfoo", samples))
    imported = parse_config(path)
    assert imported.prompts == [PROMPT]
    assert imported.models == ["gpt-4.1-nano"] and imported.temperatures == [0.0]
    assert imported.repeats == 1 and imported.label_column == "label"
    assert_same_samples(imported.samples, samples, ["text"])
    assert imported.untranslated == []


def test_promptfoo_export_of_several_cells_round_trips(tmp_path: Path) -> None:
    samples = samples_for(TWO_VARS, [("billing", {"subject": "a", "body": "b"})], label_column="topic")
    cells = [("gpt-4.1-nano", 0.0), ("gpt-4.1-nano", 0.7), ("gpt-4.1-mini", 0.0), ("o4-mini", None)]
    imported = parse_config(write_config(tmp_path, render_promptfoo(TWO_VARS, cells, samples)))
    assert imported.prompts == [TWO_VARS]
    assert imported.models == ["gpt-4.1-nano", "gpt-4.1-mini", "o4-mini"]
    assert imported.temperatures == [0.0, 0.7, None]
    assert imported.cells == cells
    assert imported.label_column == "topic"
    assert_same_samples(imported.samples, samples, ["subject", "body"])


def test_promptfoo_f_score_import_export_import(tmp_path: Path) -> None:
    """The real promptfoo example (100 IMDB reviews with C1 control characters) survives a round trip."""
    first = parse_config(DATA / "f-score" / "promptfooconfig.yaml")
    original = load_samples(DATA / "f-score" / "imdb_eval_sample.csv", label_column="sentiment")
    spec = ExportSpec(first.prompts[0], "gpt-4.1-nano", 0.0)
    second = parse_config(write_config(tmp_path, render(spec, "promptfoo", first.samples)))
    assert second.prompts == first.prompts
    assert second.label_column == "sentiment"
    assert_same_samples(second.samples, original, ["text"])
    assert any("\x85" in s.variables["text"] for s in second.samples.samples)


# How promptfoo renders a chat-JSON prompt: parse the JSON, render each string with nunjucks (autoescape off).
RENDER_LIKE_PROMPTFOO = """
const nunjucks = require(process.argv[2]);
const fs = require("fs");
const { raw, assertion, cases } = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const env = new nunjucks.Environment(null, { autoescape: false });
const render = (vars) => JSON.parse(raw).map((m) => ({ ...m, content: env.renderString(m.content, vars) }));
console.log(JSON.stringify({ messages: cases.map(render), assertion: env.renderString(assertion, cases[0]) }));
"""


def test_promptfoo_prompt_renders_in_nunjucks_as_the_workbench_renders_it(
    tmp_path: Path, nunjucks_module: Path
) -> None:
    """Literal braces, {% raw %} and {{ not a var }} in the prompt reach the model unchanged under nunjucks."""
    import yaml

    config = yaml.safe_load(render(SPEC, "promptfoo", samples_for(PROMPT, [("positive", {"text": "x"})])))
    raw = config["prompts"][0]["raw"]
    assertion = config["defaultTest"]["assert"][0]["value"]
    cases = [{"text": t} for t in (*INPUTS, NASTY, "{% endraw %} }} {#")]
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"raw": raw, "assertion": assertion, "cases": cases}), encoding="utf-8")
    script = tmp_path / "render.cjs"
    script.write_text(RENDER_LIKE_PROMPTFOO, encoding="utf-8")
    done = run([node_or_skip(), str(script), str(nunjucks_module), str(data)], tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stderr.decode()
    rendered = json.loads(done.stdout.decode("utf-8"))
    assert rendered["messages"] == [request_body(PROMPT, "gpt-4.1-nano", 0.0, case)["messages"] for case in cases]
    assert rendered["assertion"] == assertion  # promptfoo renders assertion values too: ours has no tags


def test_promptfoo_export_refuses_names_nunjucks_would_misread() -> None:
    with pytest.raises(InputError, match=r"\{\{user.name\}\}"):
        to_nunjucks("Hello {{user.name}}", "prompt 'x'")
    assert to_nunjucks("plain {{ text }}", "p") == "plain {{ text }}"
    assert to_nunjucks("a {b} {{text}}", "p") == "{% raw %}a {b} {% endraw %}{{text}}"
    assert to_nunjucks("{% raw %}", "p") == "{% raw %}{%{% endraw %}{% raw %} raw %}{% endraw %}"


def test_promptfoo_export_needs_the_prompt_variables_in_the_samples() -> None:
    wrong = SampleSet("x", "label", ("review", "label"), (Sample(0, "positive", {"review": "a"}),))
    with pytest.raises(InputError, match="'text'"):
        render(SPEC, "promptfoo", wrong)
    with pytest.raises(InputError, match="at least one"):
        render_promptfoo(PROMPT, [], None)
