"""What a run was billed that its cells do not show, said everywhere a run is reported (issue 12, item 6).

Answers another known model gave are billed at that model's price; attempts the server billed
(HTTP 200) whose answer was refused as malformed are charged and not stored. Both were counted and
logged, and shown nowhere: now ``show``, ``report``, the notebook's ``run.report`` and the Compare
page each say them, from one function (:func:`workbench.service.billing_notes`).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROMPT_YAML, ROOT, SAMPLES_CSV, TEST_KEY, cli_env
from tests.support.fake_openai import FakeOpenAI
from workbench import runner as runner_module
from workbench.config import Secret, Settings
from workbench.datasets import parse_csv
from workbench.promptfile import parse_prompt
from workbench.service import Workbench

OTHER = "3 answer(s) came from gpt-4.1 instead of gpt-4.1-nano (billed at gpt-4.1's price"
REFUSED = "2 paid attempt(s) came back malformed (HTTP 200, refused, retried): charged $"


@pytest.fixture(scope="module")
def billed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, FakeOpenAI]]:
    """A run of 6 nano calls: 3 answered by gpt-4.1, then 2 malformed paid attempts before a good answer."""
    folder = tmp_path_factory.mktemp("billing")
    db_url = f"sqlite:///{folder / 'workbench.db'}"
    with FakeOpenAI(api_keys={TEST_KEY}) as server:
        server.faults.extend(["other_model"] * 3 + ["model_object"] * 2)
        settings = Settings(api_key=Secret(TEST_KEY), base_url=server.base_url, database_url=db_url, timeout=5.0)
        wb = Workbench.open(dataclasses.replace(settings, max_attempts=4))
        saved, runner_module.BACKOFF_BASE_S = runner_module.BACKOFF_BASE_S, 0.01
        try:
            plan = wb.plan(
                [parse_prompt(PROMPT_YAML)], parse_csv(SAMPLES_CSV.encode(), "s.csv"), ["gpt-4.1-nano"], [0.0]
            )
            outcome = wb.execute(wb.start(plan), plan, concurrency=1)
        finally:
            runner_module.BACKOFF_BASE_S = saved
        assert outcome.status == "completed" and outcome.other_model == 3 and outcome.refused_paid == 2
        wb.engine.dispose()
        yield db_url, outcome.run_id, server


def test_show_and_report_say_what_was_billed(billed_run) -> None:
    db_url, run_id, server = billed_run
    env = cli_env(server.base_url, db_url)
    for command in ("show", "report"):
        done = subprocess.run(
            [sys.executable, "-m", "workbench", command, str(run_id)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert f"note: {OTHER}" in done.stdout and f"note: {REFUSED}" in done.stdout, (command, done.stdout)


def test_the_notebook_report_says_what_was_billed(billed_run) -> None:
    import workbench

    db_url, run_id, server = billed_run
    settings = Settings(api_key=Secret(TEST_KEY), base_url=server.base_url, database_url=db_url)
    notes = workbench.open(settings).run(run_id).report["billing_notes"]
    assert any(OTHER in n for n in notes) and any(REFUSED in n for n in notes)


def test_compare_says_what_was_billed(billed_run, monkeypatch: pytest.MonkeyPatch) -> None:
    db_url, run_id, server = billed_run
    for name, value in cli_env(server.base_url, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(Path(db_url.removeprefix("sqlite:///")).parent))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/compare.py")
    at.query_params["run"] = str(run_id)
    at.run()
    warnings = [w.value.replace("\\", "") for w in at.warning]  # shown with Markdown escaped
    assert any(OTHER in w for w in warnings) and any(REFUSED in w for w in warnings), warnings
