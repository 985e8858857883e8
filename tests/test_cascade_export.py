"""Exported cascades (Python and TypeScript) answer, sample by sample, what the simulation predicted.

A run with repeats and logprobs is swept against the loopback server; each exported policy then runs
as a separate process against a fresh server with the same answers, over the same samples.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML
from tests.support.export_cases import KEY, child_env, run
from tests.support.fake_openai import FakeOpenAI
from tests.test_cascade_run import answers, write_samples
from tests.test_export_js import FAKE_OPENAI_JS, TRANSPILE, node_or_skip, typescript_module  # noqa: F401
from workbench.cascade import decisions, prepare
from workbench.errors import InputError
from workbench.export.cascade_code import CascadeCell, CascadeSpec
from workbench.promptfile import load_prompt
from workbench.storage.results import answer_probabilities, results_frame


@pytest.fixture
def measured(wb, fake_server: FakeOpenAI, tmp_path: Path):
    """A swept run (nano and mini, 3 repeats at 0.7, logprobs), its cascade report and the simulation data."""
    from workbench.datasets import load_samples

    fake_server.responder = answers
    prompt_path = tmp_path / "sentiment.yaml"
    prompt_path.write_text(PROMPT_YAML, encoding="utf-8")
    samples = load_samples(write_samples(tmp_path / "reviews.csv"))
    plan = wb.plan([load_prompt(prompt_path)], samples, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.7], 3, logprobs=True)
    run_ = wb.start(plan, concurrency=1)
    assert wb.execute(run_, plan, concurrency=1).status == "completed"
    report = wb.cascade(run_.id, "gpt-4.1-nano", "gpt-4.1-mini")
    frame, labels = results_frame(wb.engine, run_.id)
    data = prepare(frame, labels, "gpt-4.1-nano", "gpt-4.1-mini", answer_probabilities(wb.engine, run_.id), run_.id)
    inputs = [s.variables["text"] for s in samples.samples]
    return report, data, inputs


def policies(report: dict) -> list[dict]:
    """The recommendation and one policy of each signal that escalates some samples."""
    chosen = [report["recommended"]]
    for signal in ("logprob", "agreement", "parsed"):
        chosen.append(next(p for p in report["policies"] if p["signal"] == signal and 0 < p["escalated"] < p["n"]))
    return chosen


def expected(data, policy: dict) -> tuple[list[str], int]:
    table = decisions(data, policy["signal"], policy["threshold"], policy["cheap_calls_per_sample"])
    calls = len(table) * policy["cheap_calls_per_sample"] + int(table["escalated"].sum())
    return table["answer"].tolist(), calls


def test_python_export_answers_as_simulated(wb, measured, tmp_path: Path) -> None:
    report, data, inputs = measured
    assert report["recommended"] is not None, report["reason"]
    for number, policy in enumerate(policies(report)):
        script = tmp_path / f"cascade_{number}.py"
        script.write_text(wb.cascade_code(report, "python", policy), encoding="utf-8")
        with FakeOpenAI(api_keys={KEY}, responder=answers) as server:
            done = run([sys.executable, str(script)], tmp_path, child_env(server.base_url), "\n".join(inputs) + "\n")
            assert done.returncode == 0, done.stderr.decode()
            calls = server.calls
        want, want_calls = expected(data, policy)
        assert done.stdout.decode().splitlines() == want, policy
        assert calls == want_calls  # k cheap calls per sample, one strong call per escalated sample


def test_typescript_export_answers_as_simulated(wb, measured, tmp_path: Path, typescript_module: Path) -> None:  # noqa: F811
    node = node_or_skip()
    report, data, inputs = measured
    transpile = tmp_path / "transpile.cjs"
    transpile.write_text(TRANSPILE, encoding="utf-8")
    package = tmp_path / "node_modules" / "openai"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "openai", "type": "module", "main": "index.js"}')
    (package / "index.js").write_text(FAKE_OPENAI_JS)
    for number, policy in enumerate(policies(report)):
        source = tmp_path / f"cascade_{number}.ts"
        source.write_text(wb.cascade_code(report, "typescript", policy), encoding="utf-8")
        compiled = tmp_path / f"cascade_{number}.mjs"
        done = run(
            [node, str(transpile), str(typescript_module), str(source), str(compiled)], tmp_path, dict(os.environ)
        )
        assert done.returncode == 0, done.stderr.decode()
        with FakeOpenAI(api_keys={KEY}, responder=answers) as server:
            done = run([node, str(compiled)], tmp_path, child_env(server.base_url), "\n".join(inputs) + "\n")
            assert done.returncode == 0, done.stderr.decode()
            calls = server.calls
        want, want_calls = expected(data, policy)
        assert done.stdout.decode().splitlines() == want, policy
        assert calls == want_calls


def test_cli_exports_the_recommended_cascade(wb, measured, run_cli, tmp_path: Path) -> None:
    report, _, _ = measured
    out_file = tmp_path / "cascade.py"
    args = ["cascade", report["run_id"], "--cheap", "gpt-4.1-nano", "--strong", "gpt-4.1-mini"]
    code, out, err = run_cli([*args, "--export", "python", "--output", out_file])
    assert code == 0, err
    text = out_file.read_text(encoding="utf-8")
    rec = report["recommended"]
    assert f"CHEAP_CALLS = {rec['cheap_calls_per_sample']}" in text and f"SIGNAL = {rec['signal']!r}" in text
    assert KEY not in text
    code, out, err = run_cli([*args, "--export", "typescript"])
    assert code == 0 and "export async function decide" in out
    code, out, err = run_cli([*args, "--export", "python", "--output", tmp_path / "no" / "such" / "dir.py"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write" in err
    code, out, err = run_cli([*args, "--target", "0.999", "--export", "python"])
    assert code == 2 and "no cascade to export" in err and len(err.strip().splitlines()) == 1


def test_spec_refuses_what_it_cannot_ship() -> None:
    from workbench.promptfile import parse_prompt

    prompt = parse_prompt(PROMPT_YAML)
    cheap, strong = CascadeCell(prompt, "gpt-4.1-nano", 0.7), CascadeCell(prompt, "gpt-4.1-mini", 0.0)
    with pytest.raises(InputError, match="logprob signal needs"):
        CascadeSpec(cheap, strong, "logprob", 0.5, 1)
    with pytest.raises(InputError, match="unknown signal"):
        CascadeSpec(cheap, strong, "vibes", 0.5, 1)
