"""Budgets: defaults, admin overrides, spend by user and team, refusals before any call, the price table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from tests.conftest import PROMPT_YAML, SAMPLES_CSV, TEST_KEY
from workbench import budgets
from workbench.budgets import Budgets, Spend
from workbench.datasets import parse_csv
from workbench.errors import BudgetError, InputError
from workbench.pricing import Catalog
from workbench.promptfile import parse_prompt
from workbench.storage import make_engine, team
from workbench.storage.models import Dataset, Response, Run

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
YESTERDAY = datetime(2025, 3, 14, 23, 30, tzinfo=UTC)
LAST_MONTH = datetime(2025, 2, 28, 23, 59, tzinfo=UTC)
ALICE, BOB = "alice@example.com", "bob@example.com"
_keys = itertools.count(1)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def add_run(engine, created_by: str | None, key_kind: str = "server") -> int:
    with Session(engine) as session:
        dataset = Dataset(name="d", content_hash=f"h{next(_keys)}", label_column="label", columns_json="[]", n_rows=0)
        session.add(dataset)
        session.flush()
        run = Run(
            plan_hash="p", plan_json="{}", dataset_id=dataset.id, base_url="http://x", models_json="[]",
            temperatures_json="[]", created_by=created_by, key_kind=key_kind, created_at=NOW - timedelta(days=40),
        )  # fmt: skip
        session.add(run)
        session.commit()
        return run.id


def add_response(engine, run_id: int | None, cost: float | None, at: datetime) -> None:
    with Session(engine) as session:
        session.add(
            Response(
                request_key=f"k{next(_keys)}", base_url="http://x", model="m", request_json="{}", output="positive",
                cost_usd=cost, created_at=at, run_id=run_id,
            )
        )  # fmt: skip
        session.commit()


@pytest.fixture
def ledger(engine):
    """Runs by two users over two days and two months; one response of unknown cost; one own-key run."""
    alice, bob = add_run(engine, ALICE), add_run(engine, BOB)
    add_response(engine, alice, 0.10, NOW - timedelta(hours=1))
    add_response(engine, alice, 0.05, NOW.replace(hour=0))  # the first moment of the day counts
    add_response(engine, alice, None, NOW - timedelta(hours=2))  # unknown cost
    add_response(engine, alice, 0.40, YESTERDAY)
    add_response(engine, alice, 9.00, LAST_MONTH)
    add_response(engine, bob, 0.20, NOW - timedelta(minutes=5))
    add_response(engine, bob, 0.30, YESTERDAY)
    own = add_run(engine, ALICE, key_kind="user")
    add_response(engine, own, 7.00, NOW - timedelta(hours=3))
    local = add_run(engine, None, key_kind="none")
    add_response(engine, local, 0.01, NOW - timedelta(hours=4))
    return engine


# --- defaults and overrides --------------------------------------------------------------------


def test_defaults_come_from_environment_then_secrets():
    secrets = {"workbench": {"budgets": {"per_run_usd": 2, "user_daily_usd": "10", "team_monthly_usd": 100.5}}}
    assert Budgets.from_config(secrets, {}) == Budgets(2.0, 10.0, 100.5)
    env = {"WORKBENCH_BUDGET_RUN_USD": "0.5", "WORKBENCH_BUDGET_TEAM_MONTHLY_USD": "none"}
    assert Budgets.from_config(secrets, env) == Budgets(0.5, 10.0, None)
    assert Budgets.from_config({"WORKBENCH_BUDGET_USER_DAILY_USD": "$3"}, {}) == Budgets(None, 3.0, None)
    assert Budgets.from_config({}, {}) == Budgets() and not Budgets().any


@pytest.mark.parametrize("bad", ["-1", "ten", "nan", "inf"])
def test_bad_budget_values_are_one_line_errors_naming_the_setting(bad):
    with pytest.raises(InputError, match="WORKBENCH_BUDGET_USER_DAILY_USD") as info:
        Budgets.from_config({}, {"WORKBENCH_BUDGET_USER_DAILY_USD": bad})
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match=r"\[workbench.budgets\] per_run_usd"):
        Budgets.from_config({"workbench": {"budgets": {"per_run_usd": True}}}, {})


def test_admin_override_is_persisted_and_reset(db_url):
    defaults = Budgets(1.0, 5.0, 100.0)
    first = make_engine(db_url)
    assert budgets.effective(first, defaults) == defaults
    budgets.save(first, Budgets(0.25, None, 50.0), updated_by=ALICE)
    first.dispose()

    again = make_engine(db_url)  # a new process sees the admin's figures
    assert budgets.effective(again, defaults) == Budgets(0.25, None, 50.0)
    assert budgets.overrides(again) == {"per_run_usd": 0.25, "user_daily_usd": None, "team_monthly_usd": 50.0}
    stored = team.get_setting(again, "budget.team_monthly_usd")
    assert stored.updated_by == ALICE and stored.updated_at.tzinfo is not None
    budgets.reset(again)
    assert budgets.effective(again, defaults) == defaults
    assert budgets.overrides(again) == {}
    with pytest.raises(InputError, match="non-negative"):
        budgets.save(again, Budgets(-1.0, None, None))
    again.dispose()


# --- spend -------------------------------------------------------------------------------------


def test_spend_by_user_counts_new_responses_by_utc_day(ledger):
    today, month = budgets.day_start(NOW), budgets.month_start(NOW)
    assert (today, month) == (datetime(2025, 3, 15, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
    alice_today = budgets.spent_by_user(ledger, ALICE, today)
    assert alice_today == Spend(pytest.approx(0.15), 3, 1)
    assert budgets.spent_by_user(ledger, ALICE, month).usd == pytest.approx(0.55)
    assert budgets.spent_by_user(ledger, ALICE).usd == pytest.approx(9.55)
    assert budgets.spent_by_user(ledger, ALICE, today, include_own_key=True).usd == pytest.approx(7.15)
    assert budgets.spent_by_user(ledger, BOB, today) == Spend(pytest.approx(0.20), 1, 0)
    assert budgets.spent_by_user(ledger, BOB, YESTERDAY, today).usd == pytest.approx(0.30)
    assert budgets.spent_by_user(ledger, None, today).usd == pytest.approx(0.01)  # made without sign-in
    assert budgets.spent_by_user(ledger, "carol@example.com", today) == Spend()
    assert str(alice_today) == "$0.15 + 1 call(s) of unknown cost"


def test_team_spend_is_this_calendar_month(ledger):
    month = budgets.month_start(NOW)
    assert budgets.spent_by_team(ledger, month).usd == pytest.approx(0.15 + 0.40 + 0.20 + 0.30 + 0.01)
    assert budgets.spent_by_team(ledger, month).unknown_calls == 1
    assert budgets.spent_by_team(ledger, month, include_own_key=True).usd == pytest.approx(8.06)
    assert budgets.spent_by_team(ledger).usd == pytest.approx(10.06)


def test_a_response_without_a_run_still_counts_for_the_team(engine):
    add_response(engine, None, 0.5, NOW)
    assert budgets.spent_by_team(engine, budgets.day_start(NOW)).usd == pytest.approx(0.5)


def test_remaining_figures(ledger):
    left = budgets.remaining(ledger, Budgets(1.0, 0.5, 2.0), ALICE, now=NOW)
    assert left["per_run_usd"] == 1.0
    assert left["user_spent_today_usd"] == pytest.approx(0.15)
    assert left["user_left_today_usd"] == pytest.approx(0.35)
    assert left["user_unknown_calls_today"] == 1
    assert left["team_spent_month_usd"] == pytest.approx(1.06)
    assert left["team_left_month_usd"] == pytest.approx(0.94)
    overspent = budgets.remaining(ledger, Budgets(None, 0.1, None), ALICE, now=NOW)
    assert overspent["user_left_today_usd"] == 0.0  # never negative
    assert overspent["team_left_month_usd"] is None


# --- checks before a run -----------------------------------------------------------------------


def test_per_run_cap_refuses_with_the_figures(ledger):
    with pytest.raises(BudgetError) as info:
        budgets.check(ledger, Budgets(per_run_usd=0.5), ALICE, 0.75, new_calls=30, now=NOW)
    message = str(info.value)
    assert "estimated $0.75 for 30 new calls exceeds the per-run cap of $0.50" in message
    assert "nothing was called" in message and "\n" not in message
    assert budgets.check(ledger, Budgets(per_run_usd=0.5), ALICE, 0.5, now=NOW) == 0.5


def test_user_daily_cap_refuses_with_what_is_left_today(ledger):
    caps = Budgets(user_daily_usd=0.5)
    with pytest.raises(BudgetError) as info:
        budgets.check(ledger, caps, ALICE, 0.4, now=NOW)
    assert "estimated $0.40 exceeds what is left today for alice@example.com: $0.35 of $0.50" in str(info.value)
    assert budgets.check(ledger, caps, ALICE, 0.3, now=NOW) == pytest.approx(0.35)  # the runner's cap
    assert budgets.check(ledger, caps, BOB, 0.3, now=NOW) == pytest.approx(0.30)  # bob spent 0.20 today
    tomorrow = NOW + timedelta(days=1)
    assert budgets.check(ledger, caps, ALICE, 0.45, now=tomorrow) == pytest.approx(0.5)
    with pytest.raises(BudgetError, match="left today for local"):
        budgets.check(ledger, Budgets(user_daily_usd=0.01), None, 0.001, now=NOW)


def test_team_monthly_cap_refuses_with_what_is_left_this_month(ledger):
    caps = Budgets(team_monthly_usd=1.5)
    with pytest.raises(BudgetError) as info:
        budgets.check(ledger, caps, BOB, 0.5, now=NOW)
    assert "exceeds what is left this month for the team: $0.44 of $1.50" in str(info.value)
    assert budgets.check(ledger, caps, BOB, 0.4, now=NOW) == pytest.approx(0.44)
    next_month = datetime(2025, 4, 1, 0, 0, 1, tzinfo=UTC)
    assert budgets.check(ledger, caps, BOB, 1.4, now=next_month) == pytest.approx(1.5)


def test_the_callers_own_limit_is_a_cap_too(ledger):
    with pytest.raises(BudgetError, match=r"exceeds this run's limit of \$0.10"):
        budgets.check(ledger, Budgets(), ALICE, 0.2, max_cost_usd=0.1, now=NOW)
    assert budgets.check(ledger, Budgets(per_run_usd=1.0), ALICE, 0.05, max_cost_usd=0.1, now=NOW) == 0.1
    assert budgets.check(ledger, Budgets(), ALICE, 5.0, now=NOW) is None  # no cap anywhere


def test_unknown_estimate_is_refused_when_any_cap_is_set(ledger):
    with pytest.raises(BudgetError, match="cannot check the budget: the price of my-model is unknown"):
        budgets.check(ledger, Budgets(team_monthly_usd=100.0), ALICE, None, unknown_models=["my-model"], now=NOW)
    with pytest.raises(BudgetError, match="cannot check the budget"):
        budgets.check(ledger, Budgets(), ALICE, None, max_cost_usd=1.0, now=NOW)
    assert budgets.check(ledger, Budgets(), ALICE, None, now=NOW) is None
    est = {"est_new_usd": None, "new_calls": 4, "models": [{"model": "x-1", "est_cost_usd": None},
           {"model": "gpt-4.1-nano", "est_cost_usd": 0.001}]}  # fmt: skip
    with pytest.raises(BudgetError, match="the price of x-1 is unknown"):
        budgets.check_estimate(ledger, Budgets(per_run_usd=1.0), ALICE, est, now=NOW)


def test_nothing_new_to_pay_is_never_refused(ledger):
    caps = Budgets(per_run_usd=0.0, user_daily_usd=0.0, team_monthly_usd=0.0)
    assert budgets.check(ledger, caps, ALICE, None, new_calls=0, now=NOW) == 0.0
    assert budgets.check_estimate(ledger, caps, ALICE, {"est_new_usd": 0.0, "new_calls": 0, "models": []}) == 0.0


def test_own_key_runs_answer_only_to_the_per_run_cap(ledger):
    caps = Budgets(per_run_usd=1.0, user_daily_usd=0.2, team_monthly_usd=0.5)
    assert budgets.check(ledger, caps, ALICE, 0.9, key_kind="user", now=NOW) == 1.0
    with pytest.raises(BudgetError, match="per-run cap"):
        budgets.check(ledger, caps, ALICE, 1.1, key_kind="user", now=NOW)
    with pytest.raises(BudgetError, match="left today"):
        budgets.check(ledger, caps, ALICE, 0.9, key_kind="server", now=NOW)


def test_run_cap_is_the_tightest_of_all(ledger):
    caps = Budgets(per_run_usd=1.0, user_daily_usd=0.5, team_monthly_usd=2.0)
    assert budgets.run_cap(ledger, caps, ALICE, now=NOW) == pytest.approx(0.35)
    assert budgets.run_cap(ledger, caps, ALICE, max_cost_usd=0.1, now=NOW) == 0.1
    assert budgets.run_cap(ledger, caps, ALICE, key_kind="user", now=NOW) == 1.0
    assert budgets.run_cap(ledger, Budgets(), ALICE, now=NOW) is None


# --- against the loopback server: refusals before any call, spend of real runs -----------------


def test_a_sweep_over_the_users_remaining_budget_makes_no_call(wb, fake_server):
    prompt = parse_prompt(PROMPT_YAML, "sentiment.yaml")
    samples = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
    plan = wb.plan([prompt], samples, ["gpt-4.1-mini"], [0.0], created_by=ALICE)
    est = wb.estimate(plan)
    caps = Budgets(user_daily_usd=est["est_new_usd"] * 10)
    cap = budgets.check_estimate(wb.engine, caps, ALICE, est)
    run = wb.start(plan, max_cost_usd=cap, created_by=ALICE, key_kind="server")
    outcome = wb.execute(run, plan)
    assert outcome.status == "completed" and fake_server.calls == len(samples)
    spent = budgets.spent_by_user(wb.engine, ALICE, budgets.day_start())
    assert spent.calls == len(samples) and spent.usd == pytest.approx(float(outcome.spent_usd))
    assert budgets.spent_by_user(wb.engine, BOB, budgets.day_start()) == Spend()

    bigger = wb.plan([prompt], samples, ["gpt-4.1-mini"], [0.0, 0.5, 1.0], repeats=3, created_by=ALICE)
    est = wb.estimate(bigger)
    tight = Budgets(user_daily_usd=est["est_new_usd"] * 1.01)  # enough for it, not after what alice spent
    with pytest.raises(BudgetError, match=r"left today for alice@example\.com"):
        budgets.check_estimate(wb.engine, tight, ALICE, est)
    assert fake_server.calls == len(samples)  # refused before any call
    budgets.check_estimate(wb.engine, tight, BOB, est)  # bob has his own day


def test_spending_stops_mid_run_at_what_is_left(wb, fake_server):
    fake_server.responder = lambda body, index: "positive " * 40  # far longer than the estimate assumes
    prompt = parse_prompt(PROMPT_YAML, "sentiment.yaml")
    samples = parse_csv(SAMPLES_CSV.encode(), "samples.csv")
    plan = wb.plan([prompt], samples, ["gpt-4.1-mini"], [0.0], created_by=BOB)
    one_call = float(wb.catalog.lookup("gpt-4.1-mini").output * 40 / 1_000_000)
    caps = Budgets(user_daily_usd=one_call * 2)
    cap = budgets.check_estimate(wb.engine, caps, BOB, wb.estimate(plan))
    outcome = wb.execute(wb.start(plan, max_cost_usd=cap, created_by=BOB), plan, concurrency=1)
    assert outcome.status == "stopped" and "budget" in outcome.error
    assert 2 <= outcome.new_calls < len(samples)


# --- the team's price table --------------------------------------------------------------------

OVERRIDE = """\
models:
  gpt-4.1-nano: {input: 0.2, cached_input: 0.05, output: 0.8, as_of: "2025-03-01", source: "our contract"}
  in-house-classifier: {input: 0.01, output: 0.02}
"""


def test_catalog_override_is_laid_over_the_bundled_catalog(engine):
    base = Catalog.load()
    assert budgets.catalog_with_overrides(engine, base) is base
    saved = budgets.save_price_overrides(engine, OVERRIDE, base, updated_by=ALICE)
    catalog = budgets.catalog_with_overrides(engine, base)
    assert catalog == saved
    assert str(catalog.lookup("gpt-4.1-nano").input) == "0.2"
    assert catalog.lookup("gpt-4.1-nano-2025-04-14").source == "our contract"
    assert catalog.lookup("in-house-classifier") is not None
    assert catalog.lookup("gpt-4.1-mini") == base.lookup("gpt-4.1-mini")
    assert catalog.version.startswith(base.version + "+team-")  # responses priced with it say so
    assert budgets.price_overrides(engine) == OVERRIDE
    assert budgets.save_price_overrides(engine, "  ", base) is base
    assert budgets.catalog_with_overrides(engine, base) is base


@pytest.mark.parametrize(
    ("text", "reason"),
    [("models: [broken", "broken YAML"), ("- a\n- b\n", "'models' mapping"), ("models: {x: {input: 1}}", "'x'")],
)
def test_a_bad_price_table_is_refused_and_not_stored(engine, text, reason):
    base = Catalog.load()
    budgets.save_price_overrides(engine, OVERRIDE, base)
    with pytest.raises(InputError, match=reason):
        budgets.save_price_overrides(engine, text, base)
    assert budgets.price_overrides(engine) == OVERRIDE


# --- no secrets in team settings ---------------------------------------------------------------


def test_team_settings_refuse_secrets(engine):
    with pytest.raises(InputError, match="secrets are never stored"):
        team.put(engine, "openai_api_key", "x")
    with pytest.raises(InputError, match="looks like an API key"):
        team.put(engine, "note", f"use {TEST_KEY}-0123456789")
    with pytest.raises(InputError, match="looks like an API key"):
        budgets.save_price_overrides(engine, f"# sk-proj-abcdefghijkl\n{OVERRIDE}", Catalog.load())
    assert team.all_settings(engine) == {}


def test_the_api_key_never_lands_in_the_team_settings_table(wb, db_url):
    """A whole admin session with a server key: the key is nowhere in the database file."""
    key = wb.settings.api_key.get()
    assert key == TEST_KEY
    budgets.save(wb.engine, Budgets(1.0, 2.0, 3.0), updated_by=ALICE)
    budgets.save_price_overrides(wb.engine, OVERRIDE, wb.catalog, updated_by=ALICE)
    team.put(wb.engine, "note", "hello", updated_by=ALICE)
    stored = team.all_settings(wb.engine)
    assert set(stored) == {"budget.per_run_usd", "budget.user_daily_usd", "budget.team_monthly_usd",
                           "pricing.override_yaml", "note"}  # fmt: skip
    assert all(key not in s.value and key not in (s.updated_by or "") for s in stored.values())
    wb.engine.dispose()
    path = Path(db_url.removeprefix("sqlite:///"))
    for file in (path, Path(f"{path}-wal")):
        if file.exists():
            assert TEST_KEY.encode() not in file.read_bytes()


def test_an_older_database_gets_the_team_settings_table(db_url):
    from sqlalchemy import inspect, text

    from workbench.storage.migrations import applied

    old = make_engine(db_url)
    with old.begin() as conn:
        conn.execute(text("DROP TABLE team_settings"))
        conn.execute(text("DELETE FROM schema_migrations WHERE name = '004_team_settings'"))
    old.dispose()
    upgraded = make_engine(db_url)
    assert inspect(upgraded).has_table("team_settings")
    assert "004_team_settings" in applied(upgraded)
    budgets.save(upgraded, Budgets(per_run_usd=1.0))
    assert budgets.effective(upgraded, Budgets()).per_run_usd == 1.0
    upgraded.dispose()


def test_cli_sweep_refuses_a_plan_over_the_team_per_run_cap_before_any_call(fake_server, tmp_path, run_cli):
    """WORKBENCH_BUDGET_RUN_USD applies to CLI sweeps too: refused with the figures, nothing called."""
    prompt = tmp_path / "p.yaml"
    prompt.write_text(
        "name: p\nlabels: [positive, negative]\nmessages:\n  - role: user\n    content: 'Review: {{text}}'\n"
    )
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"review number {i},positive\n" for i in range(30)))
    code, _out, err = run_cli(
        ["sweep", "--prompt", str(prompt), "--dataset", str(data), "--models", "gpt-4.1-mini", "--json"],
        {"WORKBENCH_BUDGET_RUN_USD": "0.000001"},
    )
    assert code != 0
    assert "per-run cap" in err and "nothing was called" in err
    assert fake_server.calls == 0
