"""The JavaScript side of exports: the label rule ported to JavaScript (and the promptfoo assertion)
scores like Python under node, the TypeScript module compiles and runs against a loopback server,
and promptfoo YAML round-trips through the importer and renders in nunjucks as the workbench does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.export_cases import (
    ANSWERS,
    DATA,
    INPUTS,
    KEY,
    LABELS3,
    NASTY,
    PARSE_CASES,
    PROMPT,
    SPEC,
    TWO_VARS,
    answer_by_marker,
    child_env,
    run,
    samples_for,
)
from tests.support.fake_openai import FakeOpenAI
from workbench.datasets import Sample, SampleSet, load_samples
from workbench.errors import InputError
from workbench.export import ExportSpec, render, render_promptfoo, request_body
from workbench.export.promptfoo_yaml import assertion_js, to_nunjucks
from workbench.export.typescript import parse_label_js
from workbench.promptfoo import parse_config
from workbench.scoring import parse_label

# --------------------------------------------------------------------------- the JavaScript label rule


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
    body = assertion_js(LABELS3)
    checks = [(output, gold) for output, _ in PARSE_CASES[:11] for gold in ("positive", "negative")]
    checks.append(({"sentiment": "negative"}, "negative"))  # promptfoo hands JSON answers over parsed
    source = (
        f"const check = new Function('output', 'context', {json.dumps(body)});\n"
        f"const checks = {json.dumps(checks)};\n"
        "console.log(JSON.stringify(checks.map(([o, g]) =>"
        " check(o, { vars: { label: 'positive' }, test: { metadata: { workbench_gold: g } } }))));\n"
    )
    got = json.loads(run_node(tmp_path, source))
    expected = [parse_label(o if isinstance(o, str | None) else json.dumps(o), LABELS3) == g for o, g in checks]
    assert got == expected
    assert any(got) and not all(got)


def test_promptfoo_assertion_survives_nunjucks() -> None:
    """promptfoo renders assertion values with nunjucks: the code must hold no tag openers, whatever the labels."""
    body = assertion_js(["{{a}}", "{% b %}", "{#c#}"])
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
    """Literal braces, {% raw %} and {{ not a var }} in the prompt and in the samples reach the model unchanged."""
    import yaml

    texts = [*INPUTS, NASTY, "{% endraw %} }} {#", "{{ env.HOME }} {{label}}", "{", "x}}{{y", "trailing\n"]
    samples = samples_for(PROMPT, [("positive", {"text": t}) for t in texts])
    config = yaml.safe_load(render(SPEC, "promptfoo", samples))
    raw = config["prompts"][0]["raw"]
    assertion = config["defaultTest"]["assert"][0]["value"]
    cases = [test["vars"] for test in config["tests"]]
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"raw": raw, "assertion": assertion, "cases": cases}), encoding="utf-8")
    script = tmp_path / "render.cjs"
    script.write_text(RENDER_LIKE_PROMPTFOO, encoding="utf-8")
    done = run([node_or_skip(), str(script), str(nunjucks_module), str(data)], tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stderr.decode()
    rendered = json.loads(done.stdout.decode("utf-8"))
    expected = [request_body(PROMPT, "gpt-4.1-nano", 0.0, {"text": t})["messages"] for t in texts]
    assert rendered["messages"] == expected
    assert rendered["assertion"] == assertion  # promptfoo renders assertion values too: ours has no tags


def test_promptfoo_export_refuses_names_nunjucks_would_misread() -> None:
    with pytest.raises(InputError, match=r"\{\{user.name\}\}"):
        to_nunjucks("Hello {{user.name}}", "prompt 'x'")
    assert to_nunjucks("plain {{ text }}", "p") == "plain {{ text }}"
    assert to_nunjucks("a {b} {{text}}", "p") == "a {b} {{text}}"
    assert to_nunjucks("a {{{text}}", "p") == "a {{ '{' }}{{text}}"
    assert to_nunjucks("{% raw %} {#", "p") == "{{ '{' }}% raw %} {{ '{' }}#"
    assert to_nunjucks("Review: {{ text }}", "p", joined={"text"}) == "Review: {{ text.parts | join('') }}"


def test_promptfoo_export_needs_the_prompt_variables_in_the_samples() -> None:
    wrong = SampleSet("x", "label", ("review", "label"), (Sample(0, "positive", {"review": "a"}),))
    with pytest.raises(InputError, match="'text'"):
        render(SPEC, "promptfoo", wrong)
    with pytest.raises(InputError, match="at least one"):
        render_promptfoo(PROMPT, [], None)


def test_promptfoo_export_keeps_the_gold_label_out_of_the_vars() -> None:
    """promptfoo substitutes vars into {{name}} inside other vars: a gold var would leak into '{{label}}'."""
    import yaml

    samples = samples_for(PROMPT, [("negative", {"text": "I rate it {{label}}"}), ("positive", {"text": "fine"})])
    config = yaml.safe_load(render(SPEC, "promptfoo", samples))
    assert [test["vars"] for test in config["tests"]] == [
        {"text": {"parts": ["I rate it {", "{label}}"]}},
        {"text": {"parts": ["fine"]}},  # a variable with one such text is written in parts throughout
    ]
    assert [test["metadata"] for test in config["tests"]] == [
        {"workbench_gold": "negative"},
        {"workbench_gold": "positive"},
    ]
    assert "context.test.metadata" in config["defaultTest"]["assert"][0]["value"]
    assert "context.vars" not in config["defaultTest"]["assert"][0]["value"]


def test_promptfoo_export_quotes_text_that_yaml_1_2_reads_as_numbers() -> None:
    """promptfoo reads YAML 1.2 (js-yaml): 0o17, 1e3 and .5 are numbers there but plain text to PyYAML."""
    from workbench.export.jsyaml import load

    texts = [
        "0o17",
        "1e3",
        ".5",
        "+1",
        "0x1F",
        "Yes",
        "on",
        "12:30",
        "1_000",
        "2024-01-01",
        "null",
        "~",
        "True",
        "-.inf",
    ]
    samples = samples_for(PROMPT, [("positive", {"text": t}) for t in texts])
    config = load(render(SPEC, "promptfoo", samples))
    assert [test["vars"]["text"] for test in config["tests"]] == texts


def test_promptfoo_export_carries_the_pass_rate_threshold_and_a_runnable_command() -> None:
    import yaml

    from workbench.export.promptfoo_yaml import PROMPTFOO_VERSION

    text = render(SPEC, "promptfoo", samples_for(PROMPT, [("positive", {"text": "x"})]), margin=0.1)
    assert yaml.safe_load(text)["env"] == {"PROMPTFOO_PASS_RATE_THRESHOLD": "77.5"}  # 87.5% measured - 10 points
    assert f"npx promptfoo@{PROMPTFOO_VERSION} eval -c promptfooconfig.yaml" in text
    assert "@latest" not in text and "below 77.5%" in text
    unmeasured = render(ExportSpec(PROMPT, "gpt-4.1-nano", 0.0), "promptfoo")
    assert "env" not in yaml.safe_load(unmeasured) and "exits 100 when any test fails" in unmeasured
    with pytest.raises(InputError, match="margin"):
        render(SPEC, "promptfoo", margin=float("nan"))
