"""Schema migrations: a first-release database upgrades in place, migrating is idempotent and safe to race.

``tests/data/schema_v1.sqlite`` is a database as the first release left it (only ``001_initial``;
rebuilt by ``tests/data/make_schema_v1.py``). The upgrade test works on a copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tests.conftest import TEST_KEY, cli_env
from tests.data.make_schema_v1 import PORT, V1_TABLES
from tests.support.fake_openai import FakeOpenAI
from workbench.config import Secret, Settings
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo
from workbench.storage.migrations import MIGRATIONS, applied, migrate

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "tests" / "data" / "schema_v1.sqlite"
ALL = sorted(name for name, _ in MIGRATIONS)


def table_rows(path: Path, table: str, columns: list[str]) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        names = ", ".join(f'"{c}"' for c in columns)
        return conn.execute(f"SELECT {names} FROM {table} ORDER BY 1").fetchall()


def columns_of(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def schema_of(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "v1.sqlite"
    shutil.copyfile(V1, copy)
    return copy


def test_the_stored_file_is_a_first_release_database():
    with sqlite3.connect(f"file:{V1}?mode=ro", uri=True) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations")] == ["001_initial"]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {*V1_TABLES, "schema_migrations"}
        assert "cancel_requested" not in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        statuses = conn.execute("SELECT status FROM runs ORDER BY id").fetchall()
        assert statuses == [("completed",), ("interrupted",)]


def test_a_first_release_database_upgrades_in_place_without_loss(v1_copy, tmp_path):
    before = {table: (columns_of(v1_copy, table), None) for table in V1_TABLES}
    before = {table: (cols, table_rows(v1_copy, table, cols)) for table, (cols, _) in before.items()}

    engine = make_engine(f"sqlite:///{v1_copy}")
    assert applied(engine) == ALL
    inspector = inspect(engine)
    assert "cancel_requested" in {c["name"] for c in inspector.get_columns("runs")}
    assert inspector.has_table("call_claims")
    for table, (cols, rows) in before.items():
        assert table_rows(v1_copy, table, cols) == rows, table  # every old row and value intact
    with sqlite3.connect(v1_copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT DISTINCT cancel_requested FROM runs").fetchall() == [(0,)]
    assert migrate(engine) == []  # and a second time is a no-op

    runs = repo.list_runs(engine).set_index("id")
    assert list(runs["status"].sort_index()) == ["completed", "interrupted"]
    assert list(runs["answered"].sort_index()) == [16, 6]
    old = Workbench.open(Settings(database_url=f"sqlite:///{v1_copy}"), engine)
    old_summary = old.summary(1)

    # the new code runs on it: the identical sweep reuses every stored answer, the interrupted run resumes
    try:
        server = FakeOpenAI(port=PORT, api_keys={TEST_KEY})
    except OSError:
        pytest.skip(f"port {PORT}, the base URL recorded in schema_v1.sqlite, is in use")
    with server:
        settings = Settings(api_key=Secret(TEST_KEY), base_url=server.base_url, database_url=f"sqlite:///{v1_copy}")
        bench = Workbench.open(settings, engine)
        first = repo.get_run(engine, 1)
        assert first.base_url == server.base_url
        plan = bench.plan_for_run(first)
        outcome = bench.execute(bench.start(plan), plan)
        assert outcome.run_id != 1
        assert (outcome.status, outcome.new_calls, outcome.reused) == ("completed", 0, 16)
        assert server.calls == 0
        again = bench.summary(outcome.run_id)
        assert again["cells"] == old_summary["cells"] and again["total_cost_usd"] == old_summary["total_cost_usd"]

        env = cli_env(server.base_url, f"sqlite:///{v1_copy}")
        done = subprocess.run(
            [sys.executable, "-m", "workbench", "resume", "2", "--json", "--quiet"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        resumed = json.loads(done.stdout)
        assert (resumed["run_id"], resumed["status"], resumed["new_calls"]) == (2, "completed", 10)
        assert server.completed == 10
        assert [c["n"] for c in resumed["cells"]] == [16]
    engine.dispose()


def test_migrating_twice_is_a_no_op(tmp_path):
    path = tmp_path / "fresh.db"
    engine = make_engine(f"sqlite:///{path}")
    assert applied(engine) == ALL
    schema = schema_of(path)
    assert migrate(engine) == []
    assert migrate(engine) == []
    assert schema_of(path) == schema
    engine.dispose()
    engine = make_engine(f"sqlite:///{path}")  # a process starting on an up-to-date file
    assert applied(engine) == ALL and schema_of(path) == schema
    engine.dispose()


MIGRATE_WHEN_TOLD = """
import sys
from workbench.storage import make_engine
from workbench.storage.migrations import applied
print("ready", flush=True)
sys.stdin.readline()
engine = make_engine(sys.argv[1])
print(",".join(applied(engine)), flush=True)
"""


def migrate_at_once(url: str, n: int, cwd: Path) -> list[tuple[int, str, str]]:
    """``n`` processes that import everything first, then all call ``make_engine(url)`` at the same moment."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_WHEN_TOLD, url],
            cwd=cwd,
            env=cli_env("http://127.0.0.1:9/v1", url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results


@pytest.mark.parametrize("start", ["fresh", "first release"])
def test_processes_migrating_one_database_at_once_all_succeed(tmp_path, start):
    path = tmp_path / "raced.db"
    if start == "first release":
        shutil.copyfile(V1, path)
    for code, out, err in migrate_at_once(f"sqlite:///{path}", 4, tmp_path):
        assert code == 0, err
        assert out.split() == [",".join(ALL)]
    engine = make_engine(f"sqlite:///{path}")
    assert applied(engine) == ALL and migrate(engine) == []
    assert inspect(engine).has_table("call_claims")
    engine.dispose()
