"""The same code on a real PostgreSQL server: migrations, sweeps, reuse, concurrent processes, SIGKILL, CLI.

The server is started by ``tests/support/postgres.py`` (skipped, with the reason, where none can
be started) with a default time zone that is not UTC; every test gets a fresh database.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from sqlalchemy import inspect

from tests.support import postgres as pg_support
from tests.support.resilience import (
    MODELS,
    assert_cells_match_truth,
    assert_consistent,
    check_after_kill,
    check_many,
    check_many_stored,
    check_resumed,
    marker_answers,
    run_cli_env,
    runs_json,
    sweep_and_kill,
    sweep_many,
    write_inputs,
)
from tests.test_migrations import ALL, migrate_at_once
from workbench.datasets import load_samples
from workbench.promptfile import parse_prompt
from workbench.service import Workbench
from workbench.storage import claims, liveness, make_engine
from workbench.storage import repository as repo
from workbench.storage.migrations import applied, migrate
from workbench.storage.models import utcnow

pytestmark = pytest.mark.postgres
postgres_server = pg_support.postgres_server  # the fixtures: one server per session, a database per test
pg_url = pg_support.pg_url

SAMPLES = 20


def test_migrations_create_the_schema_and_running_them_again_is_a_no_op(pg_url):
    engine = make_engine(pg_url)
    assert engine.dialect.name == "postgresql"
    assert applied(engine) == ALL
    tables = set(inspect(engine).get_table_names())
    assert {"runs", "run_items", "responses", "samples", "datasets", "prompt_versions", "call_claims"} <= tables
    assert migrate(engine) == []
    engine.dispose()
    engine = make_engine(pg_url)
    assert applied(engine) == ALL
    engine.dispose()


def test_processes_migrating_a_fresh_postgres_database_at_once_all_succeed(pg_url, tmp_path):
    for code, out, err in migrate_at_once(pg_url, 4, tmp_path):
        assert code == 0, err
        assert out.split() == [",".join(ALL)]


def sweep_in_process(bench: Workbench, tmp_path, models=MODELS, temperatures=(0.0, 0.7)):
    prompt, data = write_inputs(tmp_path / "inputs", SAMPLES)
    plan = bench.plan(
        [parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), list(models), list(temperatures)
    )
    return bench.execute(bench.start(plan, concurrency=6), plan)


def figures(cell: dict) -> dict:
    """A cell without its latencies (which differ from one server run to the next)."""
    return {k: v for k, v in cell.items() if "latency" not in k and "ttft" not in k}


def test_a_sweep_on_postgres_gives_the_same_cells_as_on_sqlite_and_is_reused(settings, fake_server, pg_url, tmp_path):
    fake_server.responder = marker_answers
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 3
    fake_server.faults.extend(["429", "500", "drop"])
    lite = Workbench.open(settings)
    on_sqlite = sweep_in_process(lite, tmp_path)
    assert (on_sqlite.status, on_sqlite.new_calls) == ("completed", 4 * SAMPLES)
    lite_summary = lite.summary(on_sqlite.run_id, on_sqlite)

    fake_server.reset()
    fake_server.faults.extend(["429", "500", "drop"])
    pg = Workbench.open(dataclasses.replace(settings, database_url=pg_url))
    assert pg.engine.dialect.name == "postgresql"
    on_pg = sweep_in_process(pg, tmp_path)
    assert (on_pg.status, on_pg.errors, on_pg.new_calls) == ("completed", 0, 4 * SAMPLES)
    pg_summary = pg.summary(on_pg.run_id, on_pg)
    assert_cells_match_truth(pg_summary, fake_server.billed(), SAMPLES)
    assert [figures(c) for c in pg_summary["cells"]] == [figures(c) for c in lite_summary["cells"]]
    for field in ("total_cost_usd", "spent_usd", "new_calls", "status"):
        assert pg_summary[field] == lite_summary[field], field
    assert_consistent(pg_url)

    # the identical sweep again: every answer reused, nothing called, same figures
    calls = fake_server.calls
    again = sweep_in_process(pg, tmp_path)
    assert (again.status, again.new_calls, again.reused) == ("completed", 0, 4 * SAMPLES)
    assert fake_server.calls == calls
    assert [figures(c) for c in pg.summary(again.run_id)["cells"]] == [figures(c) for c in pg_summary["cells"]]
    pg.engine.dispose()
    lite.engine.dispose()


def test_times_mean_the_same_on_a_server_whose_time_zone_is_not_utc(settings, fake_server, pg_url, tmp_path):
    """Heartbeats and leases written now read back as now, whatever the server's time zone."""
    pg = Workbench.open(dataclasses.replace(settings, database_url=pg_url))
    outcome = sweep_in_process(pg, tmp_path, models=["gpt-4.1-nano"], temperatures=[0.0])
    run = repo.get_run(pg.engine, outcome.run_id)
    for moment in (run.created_at, run.started_at, run.finished_at, run.heartbeat_at):
        assert abs(liveness.timestamp(moment) - time.time()) < 300
    # a run another host is executing right now (fresh heartbeat) is not taken for dead
    repo.update_run(pg.engine, run.id, status="running", worker="elsewhere.example:7", heartbeat_at=utcnow())
    assert repo.mark_stale_runs(pg.engine) == []
    assert liveness.is_live(repo.get_run(pg.engine, run.id))
    # a lease another live process took a moment ago has not expired
    assert claims.claim(pg.engine, ["k1"], "elsewhere.example:7:aa") == {"k1"}
    assert claims.claim(pg.engine, ["k1"], "elsewhere.example:8:bb") == set()
    pg.engine.dispose()


@pytest.mark.slow
def test_four_processes_sweep_into_one_postgres_database_through_the_cli(fake_server, pg_url, tmp_path):
    summaries, variants, env = sweep_many(fake_server, tmp_path, pg_url, 4, "mixed")
    distinct = check_many(fake_server, summaries, variants)
    check_many_stored(pg_url, variants, distinct, env, tmp_path, summaries)
    code, out, err = run_cli_env(["show", str(summaries[0]["run_id"]), "--json"], env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["cells"] == summaries[0]["cells"]


@pytest.mark.slow
def test_sigkill_mid_flight_on_postgres_then_the_identical_command_completes_the_run(fake_server, pg_url, tmp_path):
    args, env = sweep_and_kill(fake_server, tmp_path, pg_url)
    run = check_after_kill(env, pg_url, tmp_path)
    billed_before = len(fake_server.billed())
    code, out, err = run_cli_env(args, env, tmp_path)
    assert code == 0, err
    check_resumed(json.loads(out), fake_server, run, billed_before)
    assert_consistent(pg_url)
    assert [r["status"] for r in runs_json(env, tmp_path)] == ["completed"]


def test_two_processes_taking_over_a_dead_owners_lease_at_once_do_not_both_get_it(pg_url, monkeypatch):
    """Both see the lease is stale before either takes it over; only one may then hold it."""
    engine = make_engine(pg_url)
    assert claims.claim(engine, ["k1", "k2"], "gone.example:1:dead", lease_s=-1) == {"k1", "k2"}  # expired at once
    both_looked = threading.Barrier(2, timeout=10)
    real_expired = claims._expired

    def expired_after_both_looked(until, now) -> bool:
        both_looked.wait()
        return real_expired(until, now)

    monkeypatch.setattr(claims, "_expired", expired_after_both_looked)
    results: dict[str, set[str]] = {}

    def take(owner: str) -> None:
        results[owner] = claims.claim(engine, ["k1"], owner)

    threads = [threading.Thread(target=take, args=(f"here.example:{pid}:x",)) for pid in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(held) for held in results.values()) == [0, 1]
    engine.dispose()
