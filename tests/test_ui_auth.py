"""The shared instance through ``AppTest``: sign-in gate, roles, attribution, budgets, hosted mode.

Secrets configure ``[auth]`` and an allow-list (``at.secrets``); ``at.user`` plays ``st.user``
(``is_logged_in`` and the identity claims). The database is a copy of one seeded with a finished
run made without sign-in and one made by the member; the model server is the loopback
:class:`FakeOpenAI`, so "before any call" is counted on the server's side.
"""

from __future__ import annotations

import copy
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from tests.support.fake_openai import FakeOpenAI
from tests.test_ui_apptest import _choose_seeded_sweep, answer, by_label, rendered, says, seed_database, texts, wait_for
from workbench import budgets
from workbench.config import Secret, Settings
from workbench.datasets import parse_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo
from workbench.storage.models import utcnow

ROOT = Path(__file__).resolve().parents[1]
SERVER_KEY = "sk-auth-server-0123456789abcdef"
SESSION_KEY = "sk-auth-session-fedcba9876543210"
ADMIN = "admin@example.com"
MEMBER = "member@example.com"
VIEWER = "viewer@partner.example.org"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-cookie-secret-for-the-tests-0123456789",
    "client_id": "workbench-tests",
    "client_secret": "client-secret-for-tests",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
SECRETS = {"auth": AUTH, "workbench": {"access": {"admins": [ADMIN], "members": ["@example.com"], "viewers": [VIEWER]}}}
PAGES = ["home", "prompts", "samples", "sweep", "compare", "runs", "export"]
# What a signed-out visitor must not see anywhere: stored names, models, costs, settings.
STORED = ["seeded run", "member run", "sentiment-test", "reviews.csv", "gpt-4.1", "Connection", "Database"]
MONEY = re.compile(r"\$\d")  # a cost (widget ids contain "$$ID")
# Every control that changes something or spends money, by widget key.
CONTROLS = [
    "sweep_run", "pe_send", "pe_save", "pe_write", "samples_store", "samples_rename", "runs_rerun", "runs_resume",
    "runs_delete", "cmp_save_hard", "ex_pf_config", "ex_pf_store", "export_save_write", "_workbench_use_key",
]  # fmt: skip


def signed_in(email: str, **claims: object) -> dict[str, object]:
    return {"is_logged_in": True, "email": email, "email_verified": True, **claims}


SIGNED_OUT = {"is_logged_in": False}


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys={SERVER_KEY, SESSION_KEY}, responder=answer) as fake:
        yield fake


@pytest.fixture(scope="module")
def seeded(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The seeded run (no sign-in) plus a finished run made by the member."""
    seed = seed_database(server.base_url, SERVER_KEY, tmp_path_factory.mktemp("auth"))
    settings = Settings(api_key=Secret(SERVER_KEY), base_url=server.base_url, database_url=str(seed["db_url"]))
    wb = Workbench.open(settings)
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "reviews.csv"), ["gpt-4.1-mini"], [0.5]
    )
    run = wb.start(plan, name="member run", created_by=MEMBER, key_kind="server")
    assert wb.execute(run, plan).status == "completed"
    wb.engine.dispose()
    return {**seed, "member_run_id": run.id}


@pytest.fixture
def env(seeded: dict[str, object], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A private copy of the seeded database in ``tmp_path`` and a clean environment pointing at it."""
    source = sqlite3.connect(str(seeded["db_url"]).removeprefix("sqlite:///"))
    target = sqlite3.connect(tmp_path / "workbench.db")
    source.backup(target)
    source.close()
    target.close()
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "WORKBENCH_")):
            monkeypatch.delenv(name)
    db_url = f"sqlite:///{tmp_path / 'workbench.db'}"
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", db_url)
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(seeded["prompts_dir"]))
    monkeypatch.setenv("WORKBENCH_TIMEOUT", "5")
    engine = make_engine(db_url)
    yield {**seeded, "db_url": db_url, "folder": tmp_path, "engine": engine}
    engine.dispose()


def app(user: dict[str, object] | None, secrets: dict[str, object] | None = None) -> AppTest:
    """The app with sign-in configured; ``user`` plays ``st.user`` (None: AppTest's default, no login flag)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets.update(copy.deepcopy(SECRETS if secrets is None else secrets))
    if user is not None:
        at.user = dict(user)
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    return at


def keys(at: AppTest) -> set[str]:
    """The keys of every widget on the page (sidebar included)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        key = getattr(node, "key", None)
        if isinstance(key, str):
            found.add(key)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return found


def table_with(at: AppTest, column: str):
    """The first table on the page with ``column``."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert tables, f"no table with a {column!r} column"
    return tables[0]


def assert_sign_in_screen_only(at: AppTest, where: str, env: dict[str, object], server: FakeOpenAI) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert [t.value for t in at.title] == ["Prompt workbench"], where
    assert [b.label for b in at.button] == ["Sign in"], where
    assert not at.sidebar.children, f"{where}: the sidebar shows something"
    assert not (at.dataframe or at.metric or at.selectbox or at.text_input or at.text_area or at.error), where
    tree = rendered(at)
    for secret in [*STORED, server.base_url, str(env["folder"]), SERVER_KEY, "workbench.db"]:
        assert secret not in tree, f"{where}: {secret!r} is on the sign-in screen"
    assert not MONEY.search(tree), f"{where}: an amount is on the sign-in screen"


# --- the gate ---------------------------------------------------------------------------------------------


def test_a_signed_out_visitor_sees_only_the_sign_in_screen_on_every_page(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    at = app(SIGNED_OUT)
    at.run()
    assert_sign_in_screen_only(at, "/", env, server)
    for page in PAGES:
        if page == "compare":
            at.query_params["run"] = str(env["run_id"])
        go(at, page)
        assert_sign_in_screen_only(at, page, env, server)
    with pytest.raises(ValueError, match="admin"):  # the Admin page is not even in the navigation
        at.switch_page("pages/admin.py")


@pytest.mark.parametrize("page", [*PAGES, "admin"])
def test_a_first_request_straight_to_a_page_gets_the_gate_too(
    env: dict[str, object], server: FakeOpenAI, page: str
) -> None:
    """Streamlit's legacy pages/ mode runs the file alone for a first request: the page hands over to app.py."""
    at = app(None)  # AppTest's default user has no login flag: with [auth] on that is signed out
    at.switch_page(f"pages/{page}.py")
    at.query_params["run"] = str(env["run_id"])
    at.run()
    assert_sign_in_screen_only(at, f"/{page} first", env, server)


def test_someone_not_on_the_allow_list_is_refused_with_a_sign_out_button(env: dict[str, object]) -> None:
    for user, reason in [
        (signed_in("stranger@elsewhere.org"), "is not on this workbench's list"),
        (signed_in("member2@example.com", email_verified=False), "is not verified"),
        (signed_in("member3@example.com", email_verified="false"), "is not verified"),  # Cognito sends text
        ({"is_logged_in": True, "name": "No Mail"}, "did not include an e-mail address"),
    ]:
        at = app(user)
        at.run()
        assert not at.exception
        assert len(at.error) == 1 and says(at.error, reason), [e.value for e in at.error]
        assert [b.label for b in at.button] == ["Sign out"]
        assert not at.sidebar.children and not at.dataframe and not at.metric
        assert "seeded run" not in rendered(at)


def test_broken_sign_in_settings_show_one_error_and_nothing_else(env: dict[str, object]) -> None:
    at = app(signed_in(ADMIN), {"auth": {"redirect_uri": AUTH["redirect_uri"]}})
    at.run()
    assert not at.exception
    assert says(at.error, "[auth] is incomplete"), [e.value for e in at.error]
    assert not at.title and not at.sidebar.children and "seeded run" not in rendered(at)


def test_the_sidebar_says_who_is_signed_in_with_what_role(env: dict[str, object]) -> None:
    at = app(signed_in(ADMIN))
    at.run()
    assert at.sidebar.text[0].value == ADMIN  # as text: markdown would make the address a mailto: link
    assert "admin: everything" in texts(at.sidebar.caption)
    assert "Sign out" in [b.label for b in at.sidebar.button]
    at = app(signed_in(VIEWER))
    at.run()
    assert at.sidebar.text[0].value == VIEWER and "viewer: read only" in texts(at.sidebar.caption)


# --- roles ------------------------------------------------------------------------------------------------


def test_a_viewer_reads_every_page_but_has_no_control_that_changes_or_spends(env: dict[str, object]) -> None:
    at = app(signed_in(VIEWER))
    at.run()
    running = repo.get_run(env["engine"], int(env["member_run_id"]))
    repo.update_run(env["engine"], running.id, status="running", heartbeat_at=utcnow())
    for page in PAGES:
        go(at, page)
        assert not at.error, f"{page}: {[e.value for e in at.error]}"
        present = keys(at) & set(CONTROLS)
        assert not present, f"{page}: a viewer gets {present}"
        assert not [b for b in at.button if b.label in ("Cancel", "Run sweep", "Send", "Save version", "Write file")]
        assert SERVER_KEY not in rendered(at)
        if page == "sweep":
            assert says(at.caption, "you can look, but not run sweeps")
        if page == "samples":
            assert not at.file_uploader and says(at.caption, "not upload sample sets")
        if page == "export":  # no upload at all: a viewer cannot make the server parse a config
            assert not at.file_uploader and says(at.caption, "not import promptfoo configs")
        if page == "runs":
            assert "seeded run" in set(at.dataframe[0].value["name"])  # reading is allowed
            assert says(at.caption, "not re-run, resume or delete runs")
    with pytest.raises(ValueError, match="admin"):
        at.switch_page("pages/admin.py")


def test_a_member_runs_a_sweep_that_records_who_made_it_and_cannot_see_admin(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    at = app(signed_in(MEMBER))
    at.run()
    with pytest.raises(ValueError, match="admin"):
        at.switch_page("pages/admin.py")
    go(at, "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.text_input(key="sweep_temperatures").input("0.7").run()
    assert not at.error, [e.value for e in at.error]
    assert by_label(at.metric, "Spent by you today").value  # spend so far is on the page
    before = server.calls
    at.button(key="sweep_run").click().run()
    wait_for(at, lambda a: says(a.success, "Completed"), "the member's sweep")
    assert server.calls - before == 12
    newest = repo.list_runs(env["engine"]).iloc[0]
    assert (newest["created_by"], newest["key_kind"], newest["status"]) == (MEMBER, "server", "completed")

    # Runs: mine only; the member may delete their own run, not one made by someone else.
    go(at, "runs")
    assert "by" in str(at.dataframe[0].proto)  # who made each run is a column
    at.toggle(key="runs_mine").set_value(True).run()
    assert set(at.dataframe[0].value["name"]) == {"member run", str(newest["name"])}
    at.toggle(key="runs_mine").set_value(False).run()
    at.selectbox(key="runs_pick").set_value(int(env["run_id"])).run()
    assert "runs_delete" not in keys(at) and "runs_resume" not in keys(at) and "runs_rerun" in keys(at)
    at.selectbox(key="runs_pick").set_value(int(newest["id"])).run()
    at.button(key="runs_delete").click().run()
    assert int(newest["id"]) not in set(repo.list_runs(env["engine"])["id"])


def test_a_member_edits_their_own_prompts_only_and_uploads_samples_as_theirs(env: dict[str, object]) -> None:
    at = go(app(signed_in(MEMBER)), "prompts")
    version_id = int(repo.list_prompt_versions(env["engine"], name="sentiment-test")["id"].iloc[0])
    at.radio(key="pe_origin").set_value("Saved version").run()
    at.selectbox(key="pe_pick_version").set_value(version_id).run()
    last = at.session_state["pe_messages"][-1]
    at.text_area(key=f"pe_content_{last}").input("Review: {{text}}").run()
    at.button(key="pe_save").click().run()
    assert says(at.error, "was saved without sign-in"), [e.value for e in at.error]
    assert len(repo.list_prompt_versions(env["engine"], name="sentiment-test")) == 1
    at.text_input(key="pe_name").input("my-sentiment").run()
    at.button(key="pe_save").click().run()
    assert says(at.success, "as version #"), [e.value for e in at.error]
    mine = repo.list_prompt_versions(env["engine"], name="my-sentiment")
    assert list(mine["created_by"]) == [MEMBER]
    # A second version of their own prompt is fine.
    at.text_area(key=f"pe_content_{at.session_state['pe_messages'][-1]}").input("Text: {{text}}").run()
    at.button(key="pe_save").click().run()
    assert len(repo.list_prompt_versions(env["engine"], name="my-sentiment")) == 2

    at = go(at, "samples")
    at.file_uploader[0].set_value(
        ("tickets.csv", b"ticket,queue\nCharged twice,billing\nCrash,technical\n", "text/csv")
    )
    at.run()
    at.button(key="samples_store").click().run()
    stored = repo.list_datasets(env["engine"])
    assert stored[stored["name"] == "tickets"]["created_by"].tolist() == [MEMBER]
    at.toggle(key="samples_mine").set_value(True).run()
    assert list(table_with(at, "label_column")["name"]) == ["tickets"]


def test_an_admin_sets_budgets_and_the_price_table_on_the_admin_page(env: dict[str, object]) -> None:
    at = go(app(signed_in(ADMIN)), "admin")
    assert not at.error
    caps = at.dataframe[0].value
    assert list(caps["cap"]) == ["Per run", "Per person per day", "Team per month"]
    assert set(caps["set here"]) == {"—"}
    people = at.dataframe[-1].value
    assert {MEMBER, "(no sign-in)"} <= set(people["person"])
    assert people[people["person"] == MEMBER]["runs"].tolist() == [1]

    at.text_input(key="admin_user_daily").input("0.25")
    at.text_input(key="admin_team_monthly").input("50")
    at.button[0].click()  # the form's submit button comes first
    at.run()
    assert not at.exception and says(at.success, "Budgets saved")
    assert budgets.overrides(env["engine"]) == {"per_run_usd": None, "user_daily_usd": 0.25, "team_monthly_usd": 50.0}
    assert list(at.dataframe[0].value["in force"]) == ["no cap", "$0.25", "$50.00"]

    at.text_input(key="admin_per_run").input("two dollars")
    at.button[0].click()
    at.run()
    assert says(at.error, "Per run: expected an amount in USD"), [e.value for e in at.error]

    at.text_area(key="admin_prices_text").input("models:\n  my-local-model: {input: oops}\n")
    by_label(at.button, "Check and save").click()
    at.run()
    assert says(at.error, "my-local-model"), [e.value for e in at.error]
    assert budgets.price_overrides(env["engine"]) is None
    prices = "models:\n  my-local-model:\n    input: 1.0\n    output: 2.0\n"
    at.text_area(key="admin_prices_text").input(prices)
    by_label(at.button, "Check and save").click()
    at.run()
    assert says(at.success, "Price table saved")
    assert budgets.price_overrides(env["engine"]) == prices

    # The team's prices apply to estimates at once: the model is no longer of unknown price.
    go(at, "sweep")
    at.multiselect(key="sweep_models").set_value(["gpt-4.1-nano", "my-local-model"]).run()
    assert not says(at.error, "unknown"), [e.value for e in at.error]
    assert "unknown" not in set(at.dataframe[0].value["new calls (est.)"])

    go(at, "admin")
    by_label(at.button, "Back to the defaults").click()
    at.run()
    assert budgets.overrides(env["engine"]) == {}


# --- money ------------------------------------------------------------------------------------------------


def test_a_sweep_over_what_is_left_today_is_refused_before_any_call(env: dict[str, object], server: FakeOpenAI) -> None:
    secrets = copy.deepcopy(SECRETS)
    secrets["workbench"]["budgets"] = {"user_daily_usd": 0.000001, "per_run_usd": 5}
    before = server.calls
    at = go(app(signed_in(MEMBER), secrets), "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.text_input(key="sweep_temperatures").input("0.9").run()
    assert says(at.error, f"exceeds what is left today for {MEMBER}"), [e.value for e in at.error]
    assert says(at.error, "of $0.000001; nothing was called")
    assert at.button(key="sweep_run").disabled is True
    assert server.calls == before
    assert len(repo.list_runs(env["engine"])) == 2


def test_try_it_calls_nothing_once_the_budget_is_spent(env: dict[str, object], server: FakeOpenAI) -> None:
    secrets = copy.deepcopy(SECRETS)
    secrets["workbench"]["budgets"] = {"user_daily_usd": 0}
    at = go(app(signed_in(MEMBER), secrets), "prompts")
    version_id = int(repo.list_prompt_versions(env["engine"], name="sentiment-test")["id"].iloc[0])
    at.radio(key="pe_origin").set_value("Saved version").run()
    at.selectbox(key="pe_pick_version").set_value(version_id).run()
    before = server.calls
    at.button(key="pe_send").click().run()
    assert says(at.error, "your budget for today is spent; nothing was called"), [e.value for e in at.error]
    assert server.calls == before


def test_resuming_a_run_over_the_team_budget_is_refused_with_the_figures(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    settings = Settings(api_key=Secret(SERVER_KEY), base_url=server.base_url, database_url=str(env["db_url"]))
    wb = Workbench(settings, env["engine"], Workbench.open(settings).catalog)
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "reviews.csv"), ["gpt-4.1-mini"], [0.25]
    )
    stuck = wb.start(plan, name="stuck run", created_by=MEMBER, key_kind="server")
    repo.update_run(env["engine"], stuck.id, status="interrupted")
    budgets.save(env["engine"], budgets.Budgets(team_monthly_usd=0.0), updated_by=ADMIN)
    at = go(app(signed_in(MEMBER)), "runs")
    at.selectbox(key="runs_pick").set_value(stuck.id).run()
    before = server.calls
    at.button(key="runs_resume").click().run()
    assert says(at.error, "exceeds what is left this month for the team: $0 of $0"), [e.value for e in at.error]
    at.button(key="runs_rerun").click().run()
    assert says(at.error, "nothing was called")
    assert server.calls == before
    assert repo.get_run(env["engine"], stuck.id).status == "interrupted"


def test_resuming_an_own_key_run_without_an_own_key_is_refused_with_the_clis_words(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    settings = Settings(api_key=Secret(SERVER_KEY), base_url=server.base_url, database_url=str(env["db_url"]))
    wb = Workbench(settings, env["engine"], Workbench.open(settings).catalog)
    plan = wb.plan(
        [parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "reviews.csv"), ["gpt-4.1-mini"], [0.35]
    )
    stuck = wb.start(plan, name="own-key run", created_by=MEMBER, key_kind="user")
    repo.update_run(env["engine"], stuck.id, status="interrupted")
    at = go(app(signed_in(MEMBER)), "runs")
    at.selectbox(key="runs_pick").set_value(stuck.id).run()
    before = server.calls
    at.button(key="runs_resume").click().run()
    assert len(at.error) == 1 and says(
        at.error,
        f"run {stuck.id} was paid with its maker's own API key; resume it with your own key or re-run it; "
        "nothing was called",
    ), [e.value for e in at.error]
    assert server.calls == before
    assert repo.get_run(env["engine"], stuck.id).status == "interrupted"


def test_a_session_key_takes_over_from_the_servers_key_and_is_recorded_as_the_users(
    env: dict[str, object], server: FakeOpenAI
) -> None:
    secrets = copy.deepcopy(SECRETS)
    secrets["workbench"]["budgets"] = {"user_daily_usd": 0.000001}  # guards the server's key only
    at = app(signed_in(MEMBER), secrets)
    at.run()
    assert "API key: set on the server" in texts(at.sidebar.caption)
    at.text_input(key="_workbench_key_field").input(SESSION_KEY)
    at.button(key="_workbench_use_key").click().run()
    assert "your own, set for this browser session only" in texts(at.sidebar.caption)
    go(at, "sweep")
    _choose_seeded_sweep(at, str(env["db_url"]))
    at.text_input(key="sweep_temperatures").input("0.4").run()
    assert not at.error, [e.value for e in at.error]
    before = len(server.requests)
    at.button(key="sweep_run").click().run()
    wait_for(at, lambda a: says(a.success, "Completed"), "the sweep paid with the session key")
    chats = [r for r in server.requests[before:] if r["path"] == "/v1/chat/completions"]
    assert chats and {r["headers"]["authorization"] for r in chats} == {f"Bearer {SESSION_KEY}"}
    newest = repo.list_runs(env["engine"]).iloc[0]
    assert (newest["created_by"], newest["key_kind"]) == (MEMBER, "user")
    for page in PAGES:
        go(at, page)
        tree = rendered(at)
        assert SESSION_KEY not in tree and SERVER_KEY not in tree, page
    dump = "\n".join(sqlite3.connect(env["folder"] / "workbench.db").iterdump())
    assert SESSION_KEY not in dump and SERVER_KEY not in dump


# --- hosted mode ------------------------------------------------------------------------------------------


def test_hosted_mode_shows_no_local_paths_and_writes_nothing_into_the_checkout(env: dict[str, object]) -> None:
    samples = parse_samples(b"text,label\nsecret path test,yes\nanother,no\n", "paths.csv")
    repo.save_dataset(env["engine"], samples, source=f"{env['folder']}/uploads/paths.csv")
    at = app(signed_in(ADMIN))
    at.run()
    assert at.sidebar.text[-1].value == "SQLite database workbench.db"
    for page in [*PAGES, "admin"]:
        go(at, page)
        tree = rendered(at)
        assert str(env["folder"]) not in tree, f"{page}: a local path is shown"
        assert str(env["prompts_dir"]) not in tree, f"{page}: a local path is shown"
        if page == "samples":
            listed = table_with(at, "label_column")
            assert listed[listed["name"] == "paths.csv"]["source"].tolist() == ["paths.csv"]
        if page == "prompts":
            assert "pe_write" not in keys(at) and "pe_download" in keys(at)
            assert says(at.caption, "nothing is written into prompts/ on the server")


def test_hosted_mode_without_sign_in_also_keeps_the_checkout_read_only(
    env: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOSTED", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    go(at, "prompts")
    assert "pe_write" not in keys(at) and "pe_download" in keys(at)
    assert "Local mode" in texts(at.sidebar.caption)
    assert str(env["folder"]) not in rendered(at)


def test_without_sign_in_everything_works_as_before_as_the_local_admin(env: dict[str, object]) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert "Local mode" in texts(at.sidebar.caption)
    go(at, "prompts")
    assert "pe_write" in keys(at) and "pe_save" in keys(at)
    go(at, "admin")
    assert at.title[0].value == "Admin"
    go(at, "runs")
    assert "runs_mine" not in keys(at) and "runs_delete" in keys(at)


def test_a_broken_secrets_file_is_an_error_never_a_workbench_without_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit import config
    from streamlit.runtime.secrets import Secrets

    from workbench.errors import InputError
    from workbench.ui import services

    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth\nredirect_uri = "http://localhost:8501/oauth2callback"\n', encoding="utf-8")
    monkeypatch.setattr(services.st, "secrets", Secrets())
    original = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    try:
        with pytest.raises(InputError, match="could not be read"):
            services.access_policy()
        broken.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n', encoding="utf-8")
        services.st.secrets = Secrets()
        with pytest.raises(InputError, match=r"\[auth\] is incomplete"):
            services.access_policy()
    finally:
        config.set_option("secrets.files", original)


def test_hosted_mode_without_a_database_url_keeps_its_database_out_of_the_checkout(
    env: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With ``[auth]`` and no WORKBENCH_DATABASE_URL the SQLite file goes to the user data folder."""
    checkout, data = tmp_path / "checkout", tmp_path / "data"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("WORKBENCH_DATABASE_URL")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    at = app(signed_in(MEMBER))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not (checkout / "workbench.db").exists() and not (ROOT / "workbench.db").exists()
    assert (data / "workbench.db").is_file()
    assert str(data) not in rendered(at)  # hosted: the sidebar names no local paths
