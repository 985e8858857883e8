"""Runs that survive processes: SIGKILL mid-flight then resume, and many processes sweeping into
one SQLite file at once (the same scenarios run on PostgreSQL in test_postgres).

Every test drives real ``python -m workbench`` processes against the loopback ``FakeOpenAI`` and
checks the database and the figures against what the server says it billed. Nothing here
measures time; ``benchmarks/bench_concurrency.py`` does.
"""

from __future__ import annotations

import json

import pytest

from tests.support.resilience import (
    KILL_SAMPLES,
    assert_consistent,
    check_after_kill,
    check_many,
    check_many_stored,
    check_resumed,
    count_rows,
    run_cli_env,
    sweep_and_kill,
    sweep_many,
)
from workbench.storage import make_engine
from workbench.storage import repository as repo


@pytest.mark.slow
def test_sigkill_mid_flight_then_the_identical_command_completes_the_run(fake_server, tmp_path, db_url):
    args, env = sweep_and_kill(fake_server, tmp_path, db_url)
    run = check_after_kill(env, db_url, tmp_path)
    billed_before = len(fake_server.billed())
    code, out, err = run_cli_env(args, env, tmp_path)
    assert code == 0, err
    check_resumed(json.loads(out), fake_server, run, billed_before)
    assert_consistent(db_url)
    engine = make_engine(db_url)
    [listed] = repo.list_runs(engine).to_dict("records")
    assert (listed["id"], listed["status"], listed["answered"]) == (run["id"], "completed", 4 * KILL_SAMPLES)
    assert count_rows(db_url, "SELECT count(*) FROM call_claims") == 0  # no lease outlives its run
    engine.dispose()


@pytest.mark.slow
def test_sigkill_mid_flight_then_resume_run_id_completes_the_run(fake_server, tmp_path, db_url):
    _args, env = sweep_and_kill(fake_server, tmp_path, db_url)
    run = check_after_kill(env, db_url, tmp_path)
    billed_before = len(fake_server.billed())
    code, out, err = run_cli_env(["resume", str(run["id"]), "--json", "--quiet"], env, tmp_path)
    assert code == 0, err
    check_resumed(json.loads(out), fake_server, run, billed_before)
    assert_consistent(db_url)


@pytest.mark.slow
@pytest.mark.parametrize(("n", "kind"), [(4, "identical"), (8, "mixed")])
def test_processes_sweeping_into_one_sqlite_file_at_once(fake_server, tmp_path, db_url, n, kind):
    summaries, variants, env = sweep_many(fake_server, tmp_path, db_url, n, kind)
    distinct = check_many(fake_server, summaries, variants)
    check_many_stored(db_url, variants, distinct, env, tmp_path, summaries)
