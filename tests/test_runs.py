"""The one door for starting and resuming runs (``workbench.runs``): the same checks, the same words.

A resume is refused before any call, with the very message a sweep of the same plan gets, when it is
over a budget, asked by a viewer, or of a run paid with its maker's own key by someone without one;
in the CLI that is one ``error:`` line and a non-zero exit. Calls are counted on the loopback server.
"""

from __future__ import annotations

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV, cli_env
from workbench import runs
from workbench.access import User
from workbench.budgets import Budgets
from workbench.cli import EXIT_USAGE, main
from workbench.datasets import parse_samples
from workbench.errors import BudgetError, RefusedError
from workbench.promptfile import parse_prompt
from workbench.storage import repository as repo
from workbench.storage.models import utcnow

MEMBER = User("member@example.com", "member")
OTHER = User("other@example.com", "member")
VIEWER = User("viewer@example.com", "viewer")
TINY = "0.000001"


def stuck_run(wb, created_by=None, key_kind="server", status="interrupted", max_cost_usd=None):
    """An unfinished run of 6 calls that nobody executes (as after a crash)."""
    prompt, samples = parse_prompt(PROMPT_YAML), parse_samples(SAMPLES_CSV.encode(), "reviews.csv")
    plan = wb.plan([prompt], samples, ["gpt-4.1-mini"], [0.3])
    run = wb.start(plan, name="stuck", created_by=created_by, key_kind=key_kind, max_cost_usd=max_cost_usd)
    repo.update_run(wb.engine, run.id, status=status)
    return repo.get_run(wb.engine, run.id)


@pytest.fixture
def cli(monkeypatch, fake_server, db_url, capsys, tmp_path):
    """``main(argv)`` with the environment pointed at the fake server; returns (code, stdout, stderr)."""
    for name, value in cli_env(fake_server.base_url, db_url).items():
        if name.startswith(("OPENAI_", "WORKBENCH_")):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no ./.streamlit/secrets.toml of the checkout

    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def sweep_args(prompt_file, samples_file) -> list[object]:
    return ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-mini", "--quiet"]


def test_resume_over_max_cost_is_refused_with_the_sweeps_message(cli, wb, fake_server, prompt_file, samples_file):
    code, _, sweep_err = cli(*sweep_args(prompt_file, samples_file), "--temperatures", "0.3", "--max-cost", TINY)
    assert code == EXIT_USAGE and fake_server.calls == 0
    assert repo.list_runs(wb.engine).empty  # the sweep was refused before a run was made
    stuck = stuck_run(wb)
    code, out, err = cli("resume", stuck.id, "--max-cost", TINY)
    assert code == EXIT_USAGE and out == ""
    assert err == sweep_err and err.count("\n") == 1 and "exceeds the budget" in err
    assert fake_server.calls == 0
    assert repo.get_run(wb.engine, stuck.id).status == "interrupted"


def test_resume_keeps_the_runs_own_limit(cli, wb, fake_server):
    stuck = stuck_run(wb, max_cost_usd=float(TINY))
    code, _, err = cli("resume", stuck.id)
    assert code == EXIT_USAGE and "exceeds the budget of $0.000001; nothing was called" in err
    assert fake_server.calls == 0


def test_resume_over_the_team_caps_is_refused_like_the_sweep(
    cli, wb, fake_server, monkeypatch, prompt_file, samples_file
):
    monkeypatch.setenv("WORKBENCH_BUDGET_TEAM_MONTHLY_USD", TINY)
    code, _, sweep_err = cli(*sweep_args(prompt_file, samples_file), "--temperatures", "0.3")
    assert code == EXIT_USAGE and "left this month for the team" in sweep_err
    stuck = stuck_run(wb)
    code, out, err = cli("resume", stuck.id)
    assert (code, out, err) == (EXIT_USAGE, "", sweep_err)
    monkeypatch.setenv("WORKBENCH_BUDGET_TEAM_MONTHLY_USD", "")
    monkeypatch.setenv("WORKBENCH_BUDGET_RUN_USD", TINY)
    code, _, err = cli("resume", stuck.id)
    assert code == EXIT_USAGE and "exceeds the per-run cap of $0.000001" in err
    assert fake_server.calls == 0


def test_resume_of_an_own_key_run_without_an_own_key_is_refused(cli, wb, fake_server):
    stuck = stuck_run(wb, key_kind="user")
    code, out, err = cli("resume", stuck.id)
    assert code == EXIT_USAGE and out == ""
    assert err == (
        f"error: run {stuck.id} was paid with its maker's own API key; resume it with your own key or re-run it; "
        "nothing was called\n"
    )
    assert fake_server.calls == 0


def test_resume_of_a_live_run_is_refused(cli, wb, fake_server):
    stuck = stuck_run(wb, status="running")
    repo.update_run(wb.engine, stuck.id, heartbeat_at=utcnow(), worker="elsewhere.example:42")
    code, _, err = cli("resume", stuck.id)
    assert code == EXIT_USAGE and f"run {stuck.id} is being executed by elsewhere.example:42" in err
    assert fake_server.calls == 0


def test_a_resume_that_may_go_ahead_finishes_the_run(cli, wb, fake_server):
    stuck = stuck_run(wb)
    code, out, _ = cli("resume", stuck.id, "--json", "--quiet", "--max-cost", "1")
    assert code == 0 and '"status": "completed"' in out
    assert fake_server.calls == 6


def test_a_viewer_is_refused_a_sweep_and_a_resume_before_anything_is_stored(wb, fake_server):
    stuck = stuck_run(wb)
    viewer = runs.Actor(VIEWER, "server")
    prompt, samples = parse_prompt(PROMPT_YAML), parse_samples(SAMPLES_CSV.encode(), "other.csv")
    versions = len(repo.list_prompt_versions(wb.engine))
    with pytest.raises(RefusedError, match="may only view this workbench"):
        runs.prepare_sweep(wb, viewer, [prompt], samples, ["gpt-4.1-mini"], [0.9])
    with pytest.raises(RefusedError, match="may only view this workbench") as resumed:
        runs.prepare_resume(wb, viewer, stuck.id)
    with pytest.raises(RefusedError, match="may only view this workbench") as rerun:
        runs.prepare_rerun(wb, viewer, stuck.id)
    assert str(resumed.value) == str(rerun.value)
    assert len(repo.list_prompt_versions(wb.engine)) == versions
    assert fake_server.calls == 0


def test_someone_elses_run_is_resumed_only_by_its_maker_or_an_admin(wb, fake_server):
    stuck = stuck_run(wb, created_by=MEMBER.id)
    with pytest.raises(RefusedError, match=f"run {stuck.id} was started by member@example.com"):
        runs.prepare_resume(wb, runs.Actor(OTHER, "server"), stuck.id)
    assert runs.prepare_resume(wb, runs.Actor(MEMBER, "server"), stuck.id).ok
    assert runs.prepare_resume(wb, runs.Actor(User("boss@example.com", "admin"), "server"), stuck.id).ok
    rerun = runs.prepare_rerun(wb, runs.Actor(OTHER, "server"), stuck.id)
    launched = runs.launch(wb, rerun, lambda *a: "not executed")
    assert launched.run.id != stuck.id and launched.run.created_by == OTHER.id and not launched.continued
    assert fake_server.calls == 0


def test_a_resumed_runs_spend_counts_for_its_maker(wb, fake_server):
    stuck = stuck_run(wb, created_by=MEMBER.id)
    daily = runs.Actor(User("boss@example.com", "admin"), "server", Budgets(user_daily_usd=1.0))
    assert runs.prepare_resume(wb, daily, stuck.id).cap == pytest.approx(1.0)
    # The admin's own key pays: the daily cap guards the server's key only, the run's maker does not matter.
    assert runs.prepare_resume(wb, runs.Actor(daily.user, "user", daily.caps), stuck.id).cap is None


def test_launch_refuses_what_prepare_refused(wb, fake_server):
    prompt, samples = parse_prompt(PROMPT_YAML), parse_samples(SAMPLES_CSV.encode(), "reviews.csv")
    actor = runs.Actor(MEMBER, "server", Budgets(per_run_usd=float(TINY)))
    prepared = runs.prepare_sweep(wb, actor, [prompt], samples, ["gpt-4.1-mini"], [0.1])
    assert isinstance(prepared.refusal, BudgetError) and prepared.estimate["new_calls"] == 6
    with pytest.raises(BudgetError, match="per-run cap"):
        runs.launch(wb, prepared, runs.Inline())
    assert repo.list_runs(wb.engine).empty and fake_server.calls == 0


def test_a_sweep_continues_only_its_makers_unfinished_run_paid_alike(wb, fake_server):
    stuck = stuck_run(wb, created_by=MEMBER.id, key_kind="user")
    prompt, samples = parse_prompt(PROMPT_YAML), parse_samples(SAMPLES_CSV.encode(), "reviews.csv")

    def prepare(user, kind):
        return runs.prepare_sweep(wb, runs.Actor(user, kind), [prompt], samples, ["gpt-4.1-mini"], [0.3])

    assert prepare(MEMBER, "user").continue_unfinished
    assert not prepare(MEMBER, "server").continue_unfinished  # the server's key must not finish it unasked
    assert not prepare(OTHER, "user").continue_unfinished
    launched = runs.launch(wb, prepare(MEMBER, "user"), lambda *a: None)
    assert launched.continued and launched.run.id == stuck.id
