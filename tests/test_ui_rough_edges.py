"""Rough edges a new user hit in the app, each pinned with ``AppTest`` (the seeded app of test_ui_apptest)."""

from __future__ import annotations

import pytest

from tests import test_ui_apptest as base
from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from tests.support.fake_openai import FakeOpenAI
from tests.test_ui_apptest import _choose_seeded_sweep, _ids, charts, says, start, visit, wait_for
from workbench.config import Settings
from workbench.datasets import parse_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo

# The seeded app's fixtures (a loopback server, a database with one finished sweep, the environment).
server, seeded, env = base.server, base.seeded, base.env
pytestmark = pytest.mark.usefixtures("env")


def test_a_free_text_label_column_is_warned_about_not_counted_as_labels() -> None:
    at = visit(start(), "samples")
    rows = "".join(
        f'"r{i}","note {i}: the staff were kind and the view over the harbour was lovely"\n' for i in range(30)
    )
    at.file_uploader[0].set_value(("notes.csv", ("id,label\n" + rows).encode(), "text/csv")).run()
    assert not at.exception
    assert says(at.warning, "looks like free text, not labels: 30 distinct values in 30 samples")
    assert not says(at.success, "30 samples")  # not green
    assert len(charts(at)) == 1  # no 30-bar chart for the upload (the stored set below keeps its own)


def test_one_label_spelt_two_ways_is_said_on_upload() -> None:
    at = visit(start(), "samples")
    data = b"text,label\na,Positive\nb,positive\nc,positive\nd,negative\n"
    at.file_uploader[0].set_value(("mixed.csv", data, "text/csv")).run()
    assert says(at.warning, "'Positive' (1 row) and 'positive' (2 rows) are one label written 2 ways")


# --- the Sweep page -----------------------------------------------------------------------------------------


def test_the_sweep_form_keeps_its_settings_and_defaults_to_a_sample_set_that_fits(env: dict[str, object]) -> None:
    engine = make_engine(str(env["db_url"]))
    version_id, fitting = _ids(str(env["db_url"]))
    # The newest sample set lacks the prompt's {{text}}: it must not be the default (a red error on arrival).
    newest = repo.save_dataset(engine, parse_samples(b"ticket,label\nMy card,billing\n", "tickets.csv")).id
    at = visit(start(), "sweep")
    at.multiselect(key="sweep_prompts").set_value([version_id]).run()
    chosen = at.selectbox(key="sweep_dataset").value
    assert newest > fitting and chosen != newest  # the newest set that fits (an example set, or the seeded one)
    assert not at.error, [e.value for e in at.error]
    at.multiselect(key="sweep_models").set_value(["gpt-4.1-mini"]).run()
    at.text_input(key="sweep_temperatures").input("0.2").run()
    at.number_input(key="sweep_repeats").set_value(3).run()
    visit(at, "runs")
    visit(at, "sweep")  # widget state is dropped while another page shows: the form brings it back
    assert at.multiselect(key="sweep_prompts").value == [version_id]
    assert at.selectbox(key="sweep_dataset").value == chosen
    assert at.multiselect(key="sweep_models").value == ["gpt-4.1-mini"]
    assert at.text_input(key="sweep_temperatures").value == "0.2"
    assert at.number_input(key="sweep_repeats").value == 3
    assert says(at.caption, "Duration: about")  # the seeded run measured gpt-4.1-mini's latency


def test_a_running_plan_cannot_be_run_twice_and_a_cancelled_run_offers_resume(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    at = visit(start(), "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.number_input(key="sweep_repeats").set_value(4).run()  # repeats 2 and 3 are new: 24 calls
    server.latency = 0.5
    try:
        at.button(key="sweep_run").click().run()
        wait_for(at, lambda a: says(a.info, "of this very sweep is running"), "the run to show as running")
        assert at.button(key="sweep_run").disabled is True  # a second click would start a duplicate run
        run_id = at.session_state["sweep_run_id"]
        cancel = [b for b in at.button if b.key == f"sweep_cancel_{run_id}"]
        assert cancel, "Cancel in the main area"
        cancel[0].click().run()
        wait_for(at, lambda a: any(b.key == f"sweep_resume_{run_id}" for b in a.button), "Resume after Cancel")
    finally:
        server.latency = 0.0
    next(b for b in at.button if b.key == f"sweep_resume_{run_id}").click().run()
    wait_for(at, lambda a: says(a.success, "Completed"), "the resumed run to complete")
    engine = make_engine(str(env["db_url"]))
    assert repo.get_run(engine, run_id).status == "completed"


# --- Compare and Export -------------------------------------------------------------------------------------


def test_a_failed_run_says_why_on_compare_and_export(env: dict[str, object]) -> None:
    engine = make_engine(str(env["db_url"]))
    wb = Workbench.open(Settings(database_url=str(env["db_url"])))
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "reviews.csv"), ["gpt-4.1-mini"], [0.3]
    )
    failed = wb.start(plan, name="refused")  # never executed: a refused key stopped it before any answer
    reason = "the server at http://gateway/v1 rejected the API key (401: Invalid proxy server token passed)"
    repo.update_run(engine, failed.id, status="failed", error=reason)
    for page, key in (("compare", "compare_run"), ("export", "export_run")):
        at = start()
        at.switch_page(f"pages/{page}.py")
        at.query_params["run"] = str(failed.id)
        at.run()
        assert at.selectbox(key=key).value == failed.id
        assert says(at.error, f"Run #{failed.id} failed with no answers"), page
        assert says(at.error, "rejected the API key (401: Invalid proxy server token passed)"), page
        assert not says(at.info, "follow its progress"), page


# --- Try it -------------------------------------------------------------------------------------------------


def test_try_it_with_an_empty_variable_is_refused_before_any_call(env: dict[str, object], server: FakeOpenAI) -> None:
    at = visit(start(), "prompts")
    modes = [r for r in at.radio if r.key == "pe_try_mode"]
    if modes:
        modes[0].set_value("Type values").run()
    before = server.calls
    at.button(key="pe_send").click().run()
    assert says(at.error, "before sending"), [e.value for e in at.error]
    assert server.calls == before


def test_try_it_sends_a_reasoning_model_what_a_sweep_cell_sends(env: dict[str, object], server: FakeOpenAI) -> None:
    """Effort low on gpt-6-luna: reasoning_effort low, max_completion_tokens with room, no temperature."""
    at = visit(start(), "prompts")
    at.selectbox(key="pe_try_model").set_value("gpt-6-luna").run()
    assert at.selectbox(key="pe_try_effort").value == "none"  # the cheapest effort, where a temperature is taken
    assert not at.number_input(key="pe_try_temperature").disabled
    at.selectbox(key="pe_try_effort").set_value("low").run()
    assert at.number_input(key="pe_try_temperature").disabled  # GPT-6 takes a temperature at effort none only
    modes = [r for r in at.radio if r.key == "pe_try_mode"]
    if modes:
        modes[0].set_value("A sample row").run()
    else:
        for box in [b for b in at.text_area if str(b.key).startswith("pe_try_value_")]:
            box.input("Great value, works well").run()
    before = len(server.chat_requests())
    at.button(key="pe_send").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    sent = server.chat_requests()[before:]
    assert len(sent) == 1 and sent[0]["status"] == 200
    body = sent[0]["body"]
    assert body["model"] == "gpt-6-luna" and body["reasoning_effort"] == "low"
    assert "temperature" not in body and "max_tokens" not in body
    assert "at effort low" in at.session_state["pe_try_result"]["model"]


def test_the_prompts_check_defaults_to_a_sample_set_that_fits(env: dict[str, object]) -> None:
    engine = make_engine(str(env["db_url"]))
    newest = repo.save_dataset(engine, parse_samples(b"body,label\nMy card,billing\n", "unfit.csv")).id
    version_id, _ = _ids(str(env["db_url"]))
    at = visit(start(), "prompts")
    at.radio(key="pe_origin").set_value("Saved version").run()
    at.selectbox(key="pe_pick_version").set_value(version_id).run()
    chosen = next(s for s in at.selectbox if s.label == "Sample set").value
    assert chosen != newest  # the newest set lacks {{text}}: not the default
    assert not says(at.error, "is not a column of"), [e.value for e in at.error]
