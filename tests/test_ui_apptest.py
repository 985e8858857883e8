"""The Streamlit app through every page with ``AppTest``, against a seeded database and a loopback server.

The database holds a finished sweep made with the real runner against :class:`FakeOpenAI`, whose
answers are right except for gpt-4.1-nano at temperature 1 on the neutral samples (so the
leaderboard, the disagreements and the paired tests have something to show). Nothing calls the
real API; the server key and the session key must appear nowhere in what the app renders.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from tests.support.fake_openai import FakeOpenAI
from workbench.config import Secret, Settings
from workbench.datasets import parse_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo

ROOT = Path(__file__).resolve().parents[1]
SERVER_KEY = "sk-apptest-server-0123456789"
SESSION_KEY = "sk-apptest-session-9876543210"
TRUTH = {"s01": "positive", "s02": "negative", "s03": "neutral", "s04": "positive", "s05": "negative", "s06": "neutral"}
PAGES = ["home", "prompts", "samples", "sweep", "compare", "runs"]


def answer(body: dict, call_index: int) -> str:
    """Right answers, except nano at temperature 1 on the neutral samples on even calls."""
    text = body["messages"][-1]["content"]
    for marker, label in TRUTH.items():
        if marker in text:
            wrong = body["model"] == "gpt-4.1-nano" and label == "neutral" and body.get("temperature") == 1.0
            return "Positive." if wrong and call_index % 2 == 0 else label.capitalize()
    return "neutral"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys={SERVER_KEY, SESSION_KEY}, responder=answer) as fake:
        yield fake


def seed_database(base_url: str, key: str, folder: Path) -> dict[str, object]:
    """A database with one finished run (2 models x 2 temperatures x 6 samples x 2 repeats) and a copy of prompts/."""
    db_url = f"sqlite:///{folder / 'workbench.db'}"
    settings = Settings(api_key=Secret(key), base_url=base_url, database_url=db_url, timeout=5.0)
    wb = Workbench.open(settings)
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)],
        parse_samples(SAMPLES_CSV.encode(), "reviews.csv"),
        ["gpt-4.1-nano", "gpt-4.1-mini"],
        [0.0, 1.0],
        repeats=2,
    )
    run = wb.start(plan, name="seeded run")
    outcome = wb.execute(run, plan)
    assert outcome.status == "completed"
    wb.engine.dispose()
    prompts_dir = folder / "prompts"
    shutil.copytree(ROOT / "prompts", prompts_dir)
    return {"db_url": db_url, "run_id": run.id, "prompts_dir": prompts_dir, "folder": folder}


@pytest.fixture(scope="module")
def seeded(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return seed_database(server.base_url, SERVER_KEY, tmp_path_factory.mktemp("ui"))


@pytest.fixture
def env(seeded: dict[str, object], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_DATABASE_URL", "WORKBENCH_PROMPTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", str(seeded["db_url"]))
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(seeded["prompts_dir"]))
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "5")
    return seeded


def start() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    return at


def visit(at: AppTest, page: str) -> AppTest:
    if page == "home":
        at.switch_page("pages/home.py")
    else:
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    return at


def rendered(at: AppTest) -> str:
    """Every element of the page as protobuf text (labels, values, table bytes, chart specs)."""
    parts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return "\n".join(parts)


def by_label(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert found, f"no widget labelled {label!r} (have {[e.label for e in elements]})"
    return found[0]


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def open_sections(at: AppTest, *names: str) -> AppTest:
    """Open Compare's detail sections ``names`` (none are drawn until picked: the page opens fast)."""
    at.button_group(key="cmp_sections").set_value(list(names)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(element) -> str:
    """What a markdown element shows: the app escapes data (``gpt\\-4\\.1``) so it is never rendered."""
    return re.sub(r"\\(.)", r"\1", str(element.value))


def texts(elements) -> str:
    return "\n".join(shown(e) for e in elements)


def says(elements, text: str) -> bool:
    return any(text in shown(e) for e in elements)


def wait_for(at: AppTest, condition, what: str, limit_s: float = 90.0) -> None:
    """Rerun the app until ``condition(at)`` holds (a background sweep is running in its worker process)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        at.run()
        if condition(at):
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


# --- every page -----------------------------------------------------------------------------------------


def test_every_page_renders_real_content_and_never_the_key(env: dict[str, object]) -> None:
    at = start()
    assert not at.exception
    sidebar = texts(at.sidebar.caption)
    assert "API key: set on the server" in sidebar
    assert "gpt-4.1-nano" in sidebar  # the models the loopback server offers
    for page in PAGES:
        visit(at, page)
        assert not at.error, f"{page}: {[e.value for e in at.error]}"
        tree = rendered(at)
        assert SERVER_KEY not in tree, page
        if page == "home":
            assert at.title[0].value == "Prompt workbench"
            assert "Recommended: gpt-4.1-" in texts(at.caption)
        elif page == "prompts":
            assert len(at.text_area) >= 2  # the messages of the loaded prompt
            assert at.dataframe, "cost per 1,000 items table"
        elif page == "samples":
            stored = at.dataframe[0].value
            assert {"reviews.csv", "sentiment.csv", "imdb_sentiment.csv", "support_topic.jsonl"} <= set(stored["name"])
            assert charts(at), "label distribution of the selected set"
        elif page == "sweep":
            assert at.metric and at.dataframe, "estimate before the Run button"
            assert at.button(key="sweep_run").disabled is False
        elif page == "compare":
            board = at.dataframe[0].value
            assert len(board) == 4 and sum("★ recommended" in m for m in board["model"]) == 1
            assert len(charts(at)) == 4 and len(at.dataframe) == 1  # cost, latency, accuracy, consistency
            assert [h.value for h in at.subheader] == ["Leaderboard"], "the details wait until asked for"
            assert len(at.get("download_button")) == 2
            open_sections(at, "Confusion matrix", "Where the answers disagree", "Paired tests", "Cascade")
            headings = [h.value for h in at.subheader]
            assert headings[1:4] == ["Confusion matrix", "Where the answers disagree", "Paired comparisons"]
            assert headings[4].startswith("Cascade")
            assert len(charts(at)) >= 5  # and the confusion matrix
            open_sections(at, "Paired tests")
            assert [h.value for h in at.subheader] == ["Leaderboard", "Paired comparisons"]
        elif page == "runs":
            assert "seeded run" in set(at.dataframe[0].value["name"])
            assert charts(at), "spend per day"
    assert SERVER_KEY not in repr(at.session_state)


def test_pages_opened_directly_still_get_the_navigation_and_sidebar(env: dict[str, object]) -> None:
    """A first request straight to a pages/ file goes through app.py (no legacy per-file pages)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/compare.py")  # before any run: Streamlit's legacy mode would run the file alone
    at.run()
    assert not at.exception
    assert at.title[0].value == "Compare"
    assert "Connection" in texts(at.sidebar.markdown)


# --- sweeps -----------------------------------------------------------------------------------------------


def _ids(db_url: str) -> tuple[int, int]:
    """(prompt version id, data set id) of the seeded run's prompt and samples."""
    engine = make_engine(db_url)
    versions, datasets = repo.list_prompt_versions(engine), repo.list_datasets(engine)
    engine.dispose()
    return (
        int(versions[versions["name"] == "sentiment-test"]["id"].iloc[0]),
        int(datasets[datasets["name"] == "reviews.csv"]["id"].iloc[0]),
    )


def _choose_seeded_sweep(at: AppTest, db_url: str) -> None:
    version_id, dataset_id = _ids(db_url)
    at.multiselect(key="sweep_prompts").set_value([version_id]).run()
    by_label(at.selectbox, "Sample set").set_value(dataset_id).run()
    at.multiselect(key="sweep_models").set_value(["gpt-4.1-nano", "gpt-4.1-mini"]).run()  # the seeded run's
    at.text_input(key="sweep_temperatures").input("0").run()


def test_a_sweep_started_on_the_sweep_page_runs_in_the_background_and_links_to_compare(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    at = visit(start(), "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.number_input(key="sweep_repeats").set_value(3).run()
    assert not at.error, [e.value for e in at.error]
    calls = by_label(at.metric, "Calls").value
    stored = by_label(at.metric, "Stored, free").value
    assert (calls, stored) == ("36", "24")  # repeats 0 and 1 at temperature 0 are in the seeded run
    before = len(server.billed())
    at.button(key="sweep_run").click().run()
    wait_for(at, lambda a: says(a.success, "Completed"), "the sweep to complete")
    assert len(server.billed()) - before == 12  # only the new repeat was paid for
    assert at.get("page_link"), "link to Compare"
    assert SERVER_KEY not in rendered(at)
    engine = make_engine(str(env["db_url"]))
    newest = repo.list_runs(engine).iloc[0]
    assert (newest["status"], newest["calls"], newest["key_kind"]) == ("completed", 36, "server")


def test_a_sweep_started_here_shows_in_the_sidebar_at_once_and_is_cancelled_there(
    env: dict[str, object], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "latency", 0.5)
    at = visit(start(), "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.number_input(key="sweep_repeats").set_value(7).run()
    at.button(key="sweep_run").click().run()
    cancel = [b for b in at.sidebar.button if str(b.key).startswith("sidebar_cancel_")]
    assert cancel, "the sidebar shows the sweep this page has just started"
    run_id = int(str(cancel[0].key).rsplit("_", 1)[1])
    cancel[0].click().run()
    engine = make_engine(str(env["db_url"]))
    wait_for(at, lambda a: repo.get_run(engine, run_id).status == "cancelled", "the cancelled sweep")


def test_the_sweep_page_offers_batch_at_half_price_and_runs_it_through_the_batch_api(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    at = visit(start(), "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.number_input(key="sweep_repeats").set_value(4).run()
    standard = by_label(at.metric, "Est. cost of new calls").value
    at.radio(key="sweep_delivery").set_value("batch").run()
    assert not at.error, [e.value for e in at.error]
    half = by_label(at.metric, "Est. cost of new calls").value
    assert float(half.lstrip("$")) == pytest.approx(float(standard.lstrip("$")) / 2, abs=1e-6)  # shown to 6 places
    assert says(at.info, "Batch API (half price)") and says(at.info, f"instead of {standard}")
    assert says(at.info, "24 hours")
    before = len(server.ledger())
    at.button(key="sweep_run").click().run()

    def trouble(a: AppTest) -> list[str]:  # warnings other than the models' shutdown dates (issue 14)
        return [w.value for w in a.warning if "shut" not in w.value]

    wait_for(at, lambda a: says(a.success, "Completed") or bool(trouble(a)), "the batch sweep to end")
    assert not trouble(at)
    billed = server.ledger()[before:]
    assert billed and {tier for tier, *_ in billed} == {"batch"}
    engine = make_engine(str(env["db_url"]))
    newest = repo.list_runs(engine).iloc[0]
    assert (newest["status"], newest["delivery"]) == ("completed", "batch")
    visit(at, "runs")
    assert "batch" in rendered(at)


def test_an_over_budget_sweep_is_refused_before_any_call(env: dict[str, object], server: FakeOpenAI) -> None:
    at = visit(start(), "sweep")
    at.text_input(key="sweep_temperatures").input("0, 0.3, 0.7").run()
    at.number_input(key="sweep_budget").set_value(0.000001).run()
    assert any("Not run" in shown(e) and "exceeds the budget" in shown(e) for e in at.error)
    assert at.button(key="sweep_run").disabled is True


# --- samples ----------------------------------------------------------------------------------------------


def test_an_uploaded_sample_file_is_checked_previewed_and_stored_once(env: dict[str, object]) -> None:
    at = visit(start(), "samples")
    data = b"ticket,queue\nMy card was charged twice,billing\nThe app crashes,technical\nRefund please,billing\n"
    at.file_uploader[0].set_value(("tickets.csv", data, "text/csv")).run()
    label = by_label(at.selectbox, "Label column (the gold answer)")
    assert label.value == "queue"  # no `label` column: the last one is proposed
    assert says(at.success, "3 samples, 2 labels")
    assert len(charts(at)) >= 2  # distribution of the upload and of the stored set below
    at.button(key="samples_store").click().run()
    assert says(at.success, "Stored as")
    at.button(key="samples_store").click().run()
    assert says(at.info, "Already stored")
    engine = make_engine(str(env["db_url"]))
    assert list(repo.list_datasets(engine)["name"]).count("tickets") == 1


def test_a_broken_sample_file_shows_the_row_and_no_traceback(env: dict[str, object]) -> None:
    at = visit(start(), "samples")
    at.file_uploader[0].set_value(("bad.csv", b"text,label\nfine,yes\ntoo,many,fields\n", "text/csv")).run()
    assert not at.exception
    assert says(at.error, "row 3"), [e.value for e in at.error]


# --- prompts ----------------------------------------------------------------------------------------------


def _open_seeded_prompt(at: AppTest, db_url: str) -> None:
    version_id, dataset_id = _ids(db_url)
    at.radio(key="pe_origin").set_value("Saved version").run()
    at.selectbox(key="pe_pick_version").set_value(version_id).run()
    by_label(at.selectbox, "Sample set").set_value(dataset_id).run()


def test_the_prompt_editor_detects_variables_tries_a_sample_and_saves_a_version(env: dict[str, object]) -> None:
    at = visit(start(), "prompts")
    _open_seeded_prompt(at, str(env["db_url"]))
    assert at.text_input(key="pe_name").value == "sentiment-test"
    assert says(at.markdown, "{{text}}")
    assert not at.error
    # Try it: the first sample (gold positive) through the loopback server, streamed.
    at.button(key="pe_send").click().run()
    assert not at.error, [e.value for e in at.error]
    assert says(at.success, "Parsed label: **positive**, the gold label ✓")
    assert by_label(at.metric, "Prompt tokens").value != "n/a"
    # An unknown variable is an error naming the sample set's columns.
    first_user = [k for k in at.session_state["pe_messages"]][-1]
    at.text_area(key=f"pe_content_{first_user}").input("{{text}} {{author}}").run()
    assert says(at.error, "{{author}} is not a column of reviews.csv")
    # Save the edited prompt as a new version and see the diff against the first one.
    at.text_area(key=f"pe_content_{first_user}").input("Review: {{text}}").run()
    at.text_input(key="pe_note").input("prefix the review").run()
    at.button(key="pe_save").click().run()
    assert says(at.success, "as version #")
    diff = "\n".join(c.value for c in at.code)
    assert any(line.startswith("+") and "Review: {{text}}" in line for line in diff.splitlines()), diff


def test_writing_a_prompt_file_stays_inside_the_prompts_folder(env: dict[str, object]) -> None:
    at = visit(start(), "prompts")
    _open_seeded_prompt(at, str(env["db_url"]))
    at.text_input(key="pe_file_sentiment-test").input("../escape").run()
    at.button(key="pe_write").click().run()
    assert says(at.error, "must not contain")
    assert not (Path(str(env["prompts_dir"])).parent / "escape.yaml").exists()
    at.text_input(key="pe_file_sentiment-test").input("sentiment-copy").run()
    at.button(key="pe_write").click().run()
    assert says(at.success, "Wrote prompts/sentiment-copy.yaml")
    written = (Path(str(env["prompts_dir"])) / "sentiment-copy.yaml").read_text()
    assert "name: sentiment-copy" in written and "{{text}}" in written


# --- compare and runs -------------------------------------------------------------------------------------


def test_compare_follows_the_run_in_the_url_drills_down_and_saves_the_hard_set(env: dict[str, object]) -> None:
    at = start()
    at.switch_page("pages/compare.py")
    at.query_params["run"] = str(env["run_id"])
    at.run()
    assert at.selectbox(key="compare_run").value == env["run_id"]
    open_sections(at, "Confusion matrix", "Where the answers disagree")
    cell = at.selectbox(key=f"cmp_cell_{env['run_id']}")
    nano_hot = next(i for i, name in enumerate(cell.options) if name == "gpt-4.1-nano @ 1")
    cell.set_value(nano_hot).run()
    square = at.selectbox(key=f"cmp_square_{env['run_id']}_{nano_hot}")
    assert square.options[0].startswith("gold neutral → answered positive")  # mistakes first
    drilled = [d.value for d in at.dataframe]
    assert any(set(d.get("predicted", [])) == {"positive"} and set(d.get("gold", [])) == {"neutral"} for d in drilled)
    hard = next(d for d in drilled if "gpt-4.1-nano @ 1" in d.columns)
    assert sorted(hard["sample"] if "sample" in hard else hard["sample_index"]) == [2, 5]
    at.button(key="cmp_save_hard").click().run()
    assert says(at.success, "hard set of run")
    engine = make_engine(str(env["db_url"]))
    sets = repo.list_datasets(engine)
    hard_row = sets[sets["name"].str.contains("hard set of run")].iloc[0]
    assert hard_row["rows"] == 2


def test_runs_can_be_filtered_rerun_resumed_and_deleted(env: dict[str, object], server: FakeOpenAI) -> None:
    settings = Settings(api_key=Secret(SERVER_KEY), base_url=server.base_url, database_url=str(env["db_url"]))
    wb = Workbench.open(settings)
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "reviews.csv"), ["gpt-4.1-mini"], [0.5]
    )
    stuck = wb.start(plan, name="stuck run")
    repo.update_run(wb.engine, stuck.id, status="interrupted", error="the worker stopped unexpectedly")

    at = visit(start(), "runs")
    assert says(at.sidebar.caption, "interrupted run(s) can be resumed")
    at.multiselect[3].set_value(["interrupted"]).run()  # the Status filter
    assert list(at.dataframe[0].value["name"]) == ["stuck run"]
    at.selectbox(key="runs_pick").set_value(stuck.id).run()
    before = len(server.billed())
    at.button(key="runs_resume").click().run()
    wait_for(at, lambda a: repo.get_run(wb.engine, stuck.id).status == "completed", "the resumed run")
    assert len(server.billed()) - before == 6

    at.multiselect[3].set_value([]).run()
    at.selectbox(key="runs_pick").set_value(stuck.id).run()
    at.button(key="runs_rerun").click().run()
    assert not at.error, [e.value for e in at.error]
    rerun_id = max(repo.list_runs(wb.engine)["id"])
    wait_for(at, lambda a: repo.get_run(wb.engine, rerun_id).status == "completed", "the re-run")
    assert len(server.billed()) - before == 6  # the re-run reused every stored answer

    at.selectbox(key="runs_pick").set_value(rerun_id).run()
    at.button(key="runs_delete").click().run()
    assert rerun_id not in set(repo.list_runs(wb.engine)["id"])
    assert repo.stored_keys(wb.engine, [c.key for c in plan.calls()]), "answers stay for reuse"


# --- a key given in the browser ------------------------------------------------------------------------------


def test_a_session_key_is_used_for_this_session_only_and_never_shown(
    env: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    at = start()
    assert "API key: not set" in texts(at.sidebar.caption)
    at.text_input(key="_workbench_key_field").input(SESSION_KEY)
    at.button(key="_workbench_use_key").click().run()
    assert "set for this browser session only" in texts(at.sidebar.caption)
    assert SESSION_KEY not in rendered(at)
    visit(at, "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.text_input(key="sweep_temperatures").input("0.2").run()
    at.button(key="sweep_run").click().run()
    wait_for(at, lambda a: says(a.success, "Completed"), "the sweep with the session key")
    for page in PAGES:
        visit(at, page)
        assert SESSION_KEY not in rendered(at), page
    engine = make_engine(str(env["db_url"]))
    assert repo.list_runs(engine).iloc[0]["key_kind"] == "user"
    dump = "\n".join(engine.raw_connection().driver_connection.iterdump())
    assert SESSION_KEY not in dump and SERVER_KEY not in dump


def test_an_empty_workbench_explains_the_next_step_on_every_page(
    env: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "prompts").mkdir()
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(tmp_path / "prompts"))
    at = start()
    expected = {
        "home": "No runs yet",
        "samples": "No sample sets yet",
        "sweep": "A sweep needs a prompt and a sample set",
        "compare": "No runs yet",
        "runs": "No runs yet",
    }
    for page in PAGES:
        visit(at, page)
        assert not at.error, f"{page}: {[e.value for e in at.error]}"
        if page in expected:
            assert says(at.info, expected[page]), f"{page}: {[i.value for i in at.info]}"
        if page == "prompts":
            assert at.radio(key="pe_origin").value == "Blank"
            assert at.text_input(key="pe_name").value == "my-classifier"


def test_a_bad_setting_is_one_line_on_the_page(env: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "not a url")
    at = start()
    assert not at.exception
    assert says(at.error, "WORKBENCH_DATABASE_URL"), [e.value for e in at.error]


def test_a_budget_cannot_be_enforced_for_a_model_without_a_price(env: dict[str, object]) -> None:
    at = visit(start(), "sweep")
    at.multiselect(key="sweep_models").set_value(["gpt-4.1-nano", "my-local-model"]).run()
    assert says(at.error, "price of my-local-model is unknown"), [e.value for e in at.error]
    assert at.button(key="sweep_run").disabled is True
    assert "unknown" in set(at.dataframe[0].value["all calls (est.)"])
    at.number_input(key="sweep_budget").set_value(0.0).run()
    assert not at.error and at.button(key="sweep_run").disabled is False


def test_names_and_answers_are_escaped_before_streamlit_renders_markdown() -> None:
    from workbench.ui.widgets import plain

    hostile = "**bold** ![pixel](http://example.invalid/p.png) [link](x) :red[alarm] $1 vs $2 <b>"
    escaped = plain(hostile)
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile  # shows exactly what was typed
    assert not re.search(r"(?<!\\)[*!\[\]()$:<>]", escaped)  # no markdown, math, directive or tag left active


def test_compare_answers_good_enough_with_a_required_accuracy(env: dict[str, object]) -> None:
    """Issue 15: a required accuracy on Compare gives each cell a verdict consistent with its interval."""
    at = visit(start(), "compare")
    by_label(at.selectbox, "Run").set_value(env["run_id"]).run()  # the seeded run: 2 repeats
    board = at.dataframe[0].value
    assert "meets target" not in board.columns and set(board["samples × repeats"]) == {"6 samples × 2 repeats"}
    assert says(at.success, "Recommended:") and not says(at.success, "; is the best")
    by_label(at.number_input, "Required accuracy (%)").set_value(50.0).run()
    by_label(at.number_input, "Items a month").set_value(100_000).run()
    assert not at.exception and not at.error
    board = at.dataframe[0].value
    for verdict, interval in zip(board["meets target"], board["95% interval"], strict=True):
        low, high = (float(x) for x in interval.rstrip("%").split("–"))
        assert verdict == ("yes" if low >= 50 else "no" if high < 50 else "unclear")
    assert all(v.startswith("$") for v in board["cost a month"])
    said = texts(at.success) + texts(at.warning)
    assert ("required 50.0% accuracy" in said and "a month at 100,000 items" in said) or "No cell meets" in said
    open_sections(at, "Paired tests")
    pairs = next(d.value for d in at.dataframe if "paired samples" in d.value.columns)
    assert set(pairs["paired samples"]) == {6}  # samples, never sample x repeat
    assert all(p.startswith("p") for p in pairs["McNemar"])
