"""The Python API for notebooks (``workbench.open()``): settings from the environment, the CLI's checks."""

from __future__ import annotations

import pandas as pd
import pytest

import workbench
from tests.conftest import PROMPT_YAML, SAMPLES_CSV, TEST_KEY
from workbench.errors import BudgetError

MODELS = ["gpt-4.1-nano", "gpt-4.1-mini"]


@pytest.fixture
def session(monkeypatch, fake_server, db_url, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROMPT_YAML)
    (tmp_path / "s.csv").write_text(SAMPLES_CSV)
    wb = workbench.open()
    yield wb
    wb.wb.engine.dispose()


def test_a_sweep_returns_its_cells_report_charts_and_export(session, fake_server):
    run = session.sweep(
        prompt="p.yaml", samples="s.csv", models=MODELS, temperatures=[0, 0.7], repeats=2, progress=False
    )
    assert run.status == "completed" and fake_server.calls == 6 * 2 * 2 * 2
    cells = run.cells
    assert isinstance(cells, pd.DataFrame) and len(cells) == 4
    assert set(cells["model"]) == set(MODELS) and (cells["n"] == 12).all()
    assert run.recommendation is not None and run.recommendation["model"] in MODELS
    html = run._repr_html_()
    assert "<table" in html and f"Run {run.id}" in html and "Recommended" in html
    assert run.chart("cost").to_dict()["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert "def classify" in run.export("python")
    with pytest.raises(workbench.errors.InputError, match="unknown chart"):
        run.chart("pie")
    again = session.run(run.id)
    assert again.summary["cells"] == run.summary["cells"]
    assert list(session.runs()["id"]) == [run.id]


def test_the_same_sweep_again_reuses_every_answer(session, fake_server):
    session.sweep(prompt="p.yaml", samples="s.csv", models=MODELS[:1], progress=False)
    paid = fake_server.calls
    rerun = session.sweep(prompt="p.yaml", samples="s.csv", models=MODELS[:1], progress=False, new_run=True)
    assert fake_server.calls == paid and rerun.summary["new_calls"] == 0 and rerun.status == "completed"


def test_max_cost_is_checked_before_any_call(session, fake_server):
    with pytest.raises(BudgetError, match=r"exceeds the budget of .*; nothing was called"):
        session.sweep(prompt="p.yaml", samples="s.csv", models=MODELS, max_cost=0.0000001, progress=False)
    assert fake_server.calls == 0 and session.runs().empty


def test_samples_may_be_a_dataframe(session, fake_server):
    frame = pd.DataFrame({"text": ["s01 great", "s02 awful"], "label": ["positive", "negative"]})
    run = session.sweep(prompt="p.yaml", samples=frame, models=MODELS[:1], progress=False)
    assert run.cells["n"].tolist() == [2]


def test_a_run_simulates_a_cascade_and_ships_it(session, fake_server, tmp_path):
    from tests.test_cascade_run import answers, write_samples

    fake_server.responder = answers
    write_samples(tmp_path / "reviews.csv")
    run = session.sweep(
        prompt="p.yaml", samples="reviews.csv", models=MODELS, temperatures=[0.7], repeats=3, logprobs=True,
        concurrency=1, progress=False,
    )  # fmt: skip
    assert all(r["body"].get("logprobs") is True for r in fake_server.chat_requests())
    cascade = run.cascade("gpt-4.1-nano", "gpt-4.1-mini")
    assert cascade.report == session.wb.cascade(run.id, "gpt-4.1-nano", "gpt-4.1-mini")
    rec = cascade.recommended
    assert rec is not None and rec["cost_per_1k_all_usd"] < cascade.report["strong_alone"]["cost_per_1k_usd"]
    assert {"accuracy_in_sample", "accuracy_held_out"} <= set(cascade.selected.columns)
    assert len(cascade.policies) == len(cascade.report["policies"])
    assert "Cascade of run" in cascade._repr_html_() and "<table" in cascade._repr_html_()
    for kind in ("cost", "calibration", "coverage"):
        assert cascade.chart(kind).to_dict()
    assert f"CHEAP_CALLS = {rec['cheap_calls_per_sample']}" in cascade.export("python")
    assert "export async function decide" in cascade.export("typescript")
    with pytest.raises(workbench.errors.InputError, match="no cheap cell"):
        run.cascade("gpt-4.1", "gpt-4.1-mini")


def test_a_notebook_sweeps_reasoning_efforts_like_the_cli(session, fake_server):
    run = session.sweep(
        prompt="p.yaml", samples="s.csv", models=["gpt-6-luna"], efforts=["none", "low"], progress=False
    )
    assert run.status == "completed" and sorted(run.cells["reasoning_effort"]) == ["low", "none"]
    sent = {body.get("reasoning_effort") for body, *_ in fake_server.billed()}
    assert sent == {"none", "low"}
    with pytest.raises(workbench.errors.InputError, match="effort"):
        session.sweep(prompt="p.yaml", samples="s.csv", models=["gpt-6-luna"], efforts=["turbo"], progress=False)
