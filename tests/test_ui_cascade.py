"""Compare's cascade section through ``AppTest``: a run of a cheap and a strong model with repeats and logprobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PROMPT_YAML
from tests.support.fake_openai import FakeOpenAI
from tests.test_cascade_run import answers, write_samples
from tests.test_ui_apptest import SERVER_KEY, charts, open_sections, rendered, says, start, texts, visit
from workbench.config import Secret, Settings
from workbench.datasets import load_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys={SERVER_KEY}, responder=answers) as fake:
        yield fake


@pytest.fixture(scope="module")
def cascade_run(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("ui-cascade")
    db_url = f"sqlite:///{folder / 'workbench.db'}"
    wb = Workbench.open(Settings(api_key=Secret(SERVER_KEY), base_url=server.base_url, database_url=db_url))
    samples = load_samples(write_samples(folder / "reviews.csv"))
    plan = wb.plan([parse_prompt(PROMPT_YAML)], samples, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.7], 3, logprobs=True)
    run = wb.start(plan, name="cascade run", concurrency=1)
    assert wb.execute(run, plan, concurrency=1).status == "completed"
    report = wb.cascade(run.id, "gpt-4.1-nano", "gpt-4.1-mini")
    wb.engine.dispose()
    return {"db_url": db_url, "run_id": run.id, "report": report}


@pytest.fixture
def env(cascade_run: dict[str, object], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_DATABASE_URL", "WORKBENCH_PROMPTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", str(cascade_run["db_url"]))
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "5")
    return cascade_run


def test_compare_shows_the_recommended_cascade_its_charts_and_escalated_samples(env: dict[str, object]) -> None:
    at = open_sections(visit(start(), "compare"), "Cascade")
    assert not at.error, [e.value for e in at.error]
    report = env["report"]
    rec = report["recommended"]
    assert rec is not None
    assert says(at.success, "Recommended: ") and says(at.success, "held-out accuracy")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Held-out accuracy"] == f"{rec['held_out_accuracy']:.1%}"
    assert metrics["Escalated"] == f"{rec['escalation_rate']:.1%}"
    titles = " ".join(str(c.proto.spec) for c in charts(at))
    assert "Cascades against single cells" in titles and "Calibration of the cheap cell" in titles
    tables = [t.value for t in at.dataframe]
    escalated = next(t for t in tables if "strong answer" in t.columns)
    assert escalated["row"].tolist() == rec["escalated_rows"]
    assert SERVER_KEY not in rendered(at)
    # choosing the same cell twice is a one-line error, not a traceback
    at.selectbox(key=f"casc_strong_{env['run_id']}").set_value(at.selectbox(key=f"casc_cheap_{env['run_id']}").value)
    at.run()
    assert not at.exception
    assert "the cheap and the strong cell are the same" in texts(at.error)
