"""``python -m workbench users``: who used the workbench, what they made and spent, newest first."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from workbench.budgets import day_start
from workbench.cli import main
from workbench.storage import make_engine
from workbench.storage.models import Dataset, PromptVersion, Response, Run

ALICE, BOB = "alice@example.com", "bob@example.com"
SECRETS = """\
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-long-random-cookie-secret-for-tests"
client_id = "client-123"
client_secret = "client-secret-456"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"

[workbench.access]
admins = ["alice@example.com"]
members = ["@example.com"]

[workbench.budgets]
team_monthly_usd = 50
"""
_ids = itertools.count(1)


@pytest.fixture
def cli(tmp_path, db_url, monkeypatch):
    """``cli(*args)`` runs the command in-process in ``tmp_path`` against the test database."""
    for name in list(os.environ):
        if name.startswith(("WORKBENCH_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", db_url)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> int:
        return main(["users", *args])

    return run


def with_secrets(tmp_path, text: str = SECRETS) -> None:
    (tmp_path / ".streamlit").mkdir(exist_ok=True)
    (tmp_path / ".streamlit" / "secrets.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def history(db_url):
    """alice: two runs today (one with her own key) and an old answer; bob: one data set three days ago;
    and a run made without sign-in."""
    now = datetime.now(UTC)
    today = day_start(now) + (now - day_start(now)) / 2  # earlier today, whatever the time
    old = now - timedelta(days=40)
    engine = make_engine(db_url)
    with Session(engine) as session:
        shared = Dataset(name="d", content_hash="h0", label_column="label", columns_json="[]", n_rows=0,
                         created_at=old)  # fmt: skip
        session.add(shared)
        session.add(Dataset(name="b", content_hash="h1", label_column="label", columns_json="[]", n_rows=0,
                            created_by=BOB, created_at=now - timedelta(days=3)))  # fmt: skip
        session.add(PromptVersion(name="p", content_hash="c1", yaml="x", created_by=ALICE, created_at=now))
        session.flush()

        def run(created_by, key_kind, answers):
            row = Run(plan_hash="p", plan_json="{}", dataset_id=shared.id, base_url="http://x", models_json="[]",
                      temperatures_json="[]", created_by=created_by, key_kind=key_kind, created_at=today)  # fmt: skip
            session.add(row)
            session.flush()
            for cost, at in answers:
                session.add(Response(request_key=f"k{next(_ids)}", base_url="http://x", model="m", request_json="{}",
                                     cost_usd=cost, created_at=at, run_id=row.id))  # fmt: skip

        run(ALICE, "server", [(0.10, today), (None, today), (1.00, old)])
        run(ALICE, "user", [(0.50, today)])
        run(None, "none", [(0.02, today)])
        session.commit()
    engine.dispose()


def test_no_users_in_local_mode_says_so(cli, capsys):
    assert cli() == 0
    out = capsys.readouterr().out
    assert "no signed-in users yet" in out and "local mode" in out
    assert "secrets.toml.example" in out
    assert cli("--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["users"] == [] and report["unattributed"] is None and report["auth_enabled"] is False
    assert report["team_month_usd"] == 0


def test_no_users_with_sign_in_configured(cli, capsys, tmp_path):
    with_secrets(tmp_path)
    assert cli() == 0
    out = capsys.readouterr().out
    assert "no signed-in users yet: sign-in is configured" in out
    assert "team this month: $0 of $50.00" in out


def test_json_lists_users_newest_first_with_their_spend(cli, capsys, tmp_path, history):
    with_secrets(tmp_path)
    assert cli("--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [u["user"] for u in report["users"]] == [ALICE, BOB]
    alice, bob = report["users"]
    assert alice["role"] == "admin" and bob["role"] == "member"
    assert (alice["runs"], alice["prompt_versions"], alice["datasets"]) == (2, 1, 0)
    assert alice["today_usd"] == pytest.approx(0.60)
    assert alice["today_unknown_cost_calls"] == 1
    assert alice["month_usd"] == pytest.approx(0.60)
    assert alice["total_usd"] == pytest.approx(1.60)
    assert alice["total_unknown_cost_calls"] == 1
    assert alice["own_key_total_usd"] == pytest.approx(0.50)
    assert (bob["runs"], bob["datasets"], bob["today_usd"], bob["total_usd"]) == (0, 1, 0, 0)
    assert alice["last_seen"] > bob["last_seen"]
    none = report["unattributed"]
    assert none["user"] is None and none["runs"] == 1 and none["today_usd"] == pytest.approx(0.02)
    assert report["team_month_usd"] == pytest.approx(0.62)
    assert report["budgets"] == {"per_run_usd": None, "user_daily_usd": None, "team_monthly_usd": 50.0}


def test_text_table_says_unknown_costs_and_own_keys(cli, capsys, history):
    assert cli() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["user", "role", "runs", "prompts"]
    alice = next(line for line in lines if line.startswith(ALICE))
    assert "$0.60 + 1 unknown" in alice and "$1.60 + 1 unknown" in alice and "(own key $0.50)" in alice
    assert alice.split()[1] == "-"  # no roles without sign-in
    assert any(line.startswith("(no sign-in)") and "$0.02" in line for line in lines)
    assert lines.index(alice) < next(i for i, line in enumerate(lines) if line.startswith(BOB))
    assert lines[-1].startswith("team this month: $0.62 + 1 unknown; caps: per run none")


def test_broken_access_list_is_a_one_line_error(cli, capsys, tmp_path):
    with_secrets(tmp_path, SECRETS.replace('admins = ["alice@example.com"]', 'admins = ["alice"]'))
    assert cli() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: [workbench.access] admins: 'alice'") and "\n" not in err


def test_the_command_line_contract(run_cli, history):
    code, out, err = run_cli(["users", "--json"])
    assert code == 0, err
    report = json.loads(out)  # exactly one JSON object
    assert [u["user"] for u in report["users"]] == [ALICE, BOB]
    from workbench.cli import build_parser

    assert "users" in build_parser().format_help()
