"""Storage: a temporary SQLite file per test, WAL, busy timeout, migrations, dedupe, frames."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench.datasets import parse_csv
from workbench.errors import InputError
from workbench.promptfile import parse_prompt
from workbench.storage import make_engine, redact_url
from workbench.storage import repository as repo
from workbench.storage.engine import BUSY_TIMEOUT_MS
from workbench.storage.migrations import MIGRATIONS, applied, migrate
from workbench.storage.models import Response, Run
from workbench.storage.results import RESULT_COLUMNS, results_frame

PROMPT = parse_prompt(PROMPT_YAML)
SAMPLES = parse_csv(SAMPLES_CSV.encode(), "samples.csv")


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'wb.db'}")
    yield engine
    engine.dispose()


def test_sqlite_file_is_created_in_wal_mode_with_a_busy_timeout(engine, tmp_path):
    assert (tmp_path / "sub" / "wb.db").exists()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar().lower() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS > 0
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_table_is_filled_and_migrating_again_does_nothing(engine):
    assert applied(engine) == sorted(name for name, _ in MIGRATIONS)
    assert migrate(engine) == []


def test_old_schema_gets_the_missing_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM schema_migrations WHERE name != '001_initial'"))
        conn.execute(text("ALTER TABLE runs DROP COLUMN cancel_requested"))
    engine.dispose()
    engine = make_engine(url)
    assert applied(engine) == sorted(name for name, _ in MIGRATIONS)
    with engine.connect() as conn:
        columns = [row[1] for row in conn.execute(text("PRAGMA table_info(runs)"))]
    assert "cancel_requested" in columns
    engine.dispose()


def test_bad_database_url_is_a_one_line_input_error():
    with pytest.raises(InputError, match="not a database URL"):
        make_engine("not a url at all")
    assert "secret" not in redact_url("postgresql://user:secret@host/db")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("nosuchdb://x/y", "unknown kind of database"),
        ("sqlite:///{tmp}", "cannot open the database"),  # a folder, not a file
        ("sqlite:////proc/no-such-dir/x.db", "cannot create the database folder"),
        ("postgresql+psycopg://user:hunter2@127.0.0.1:1/db", "cannot open the database"),
    ],
)
def test_database_that_cannot_be_opened_is_a_one_line_input_error(tmp_path, url, needle):
    with pytest.raises(InputError, match=needle) as info:
        make_engine(url.replace("{tmp}", str(tmp_path)))
    message = str(info.value)
    assert "\n" not in message and "hunter2" not in message


def test_save_prompt_version_dedupes(engine):
    first = repo.save_prompt_version(engine, PROMPT)
    again = repo.save_prompt_version(engine, parse_prompt(PROMPT_YAML.replace("A tiny", "Another")))
    assert again.id == first.id  # description is not content
    changed = repo.save_prompt_version(engine, parse_prompt(PROMPT_YAML.replace("label only", "one word")))
    assert changed.id != first.id
    _, prompt = repo.get_prompt_version(engine, first.id)
    assert prompt == PROMPT
    versions = repo.list_prompt_versions(engine, name=PROMPT.name)
    assert list(versions["version"]) == [2, 1]
    with pytest.raises(InputError, match="no prompt version"):
        repo.get_prompt_version(engine, 999)


def test_save_dataset_dedupes_by_content(engine):
    first = repo.save_dataset(engine, SAMPLES)
    renamed = parse_csv(SAMPLES_CSV.encode(), "copy-with-another-name.csv")
    assert repo.save_dataset(engine, renamed).id == first.id
    other = repo.save_dataset(engine, parse_csv(b"text,label\nx,positive\n", "x.csv"))
    assert other.id != first.id
    loaded = repo.load_dataset(engine, first.id)
    assert loaded.samples == SAMPLES.samples
    assert loaded.content_hash == SAMPLES.content_hash
    assert len(repo.list_datasets(engine)) == 2


def _run(engine, models=("gpt-4.1-nano",)):
    version = repo.save_prompt_version(engine, PROMPT)
    dataset = repo.save_dataset(engine, SAMPLES)
    plan = {"prompts": [{"id": version.id, "name": PROMPT.name}], "models": list(models)}
    run = Run(
        name="r",
        plan_hash="h",
        plan_json=json.dumps(plan),
        dataset_id=dataset.id,
        base_url="http://x/v1",
        models_json=json.dumps(list(models)),
        temperatures_json="[0.0]",
    )
    items = [
        repo.NewItem(version.id, s.index, model, 0.0, 0, f"key-{model}-{s.index}")
        for model in models
        for s in SAMPLES.samples
    ]
    return repo.create_run(engine, run, items)


def _store_response(engine, key, output, cost=0.001, run_id=None):
    from sqlmodel import Session

    with Session(engine) as session:
        row = Response(
            request_key=key,
            base_url="http://x/v1",
            model="gpt-4.1-nano",
            request_json="{}",
            output=output,
            prompt_tokens=10,
            cached_tokens=0,
            completion_tokens=2,
            cost_usd=cost,
            latency_ms=5.0,
            run_id=run_id,
        )
        session.add(row)
        session.commit()
        return row.id


def test_results_frame_columns_and_parsing(engine):
    run = _run(engine)
    assert run.total_items == len(SAMPLES)
    pending = repo.pending_items(engine, run.id)
    assert len(pending) == len(SAMPLES)
    rid = _store_response(engine, pending[0][1], "Positive.", run_id=run.id)
    rid2 = _store_response(engine, pending[1][1], "no idea", run_id=run.id)
    repo.attach_responses(engine, [(pending[0][0], rid)], reused=False)
    repo.attach_responses(engine, [(pending[1][0], rid2)], reused=True)
    assert repo.stored_keys(engine, [pending[0][1], "nope"]) == {pending[0][1]: rid}

    frame, labels = results_frame(engine, run.id)
    assert list(frame.columns) == RESULT_COLUMNS
    assert labels == {frame["prompt_version_id"][0]: list(PROMPT.labels)}
    assert len(frame) == len(SAMPLES)
    assert frame["predicted"][0] == "positive" and bool(frame["correct"][0])
    assert frame["predicted"][1] == "unparsed" and not bool(frame["correct"][1])
    assert frame["predicted"][2:].isna().all()
    assert not frame["correct"][2:].any()
    assert frame["prompt_tokens"][0] == 10

    progress = repo.run_progress(engine, run.id)
    assert (progress["total"], progress["answered"], progress["reused"]) == (len(SAMPLES), 2, 1)
    assert progress["spent_usd"] == pytest.approx(0.002)
    assert list(frame["reused"][:2]) == [False, True]
    runs = repo.list_runs(engine)
    assert runs["calls"][0] == len(SAMPLES) and runs["answered"][0] == 2
    assert runs["cost_usd"][0] == pytest.approx(0.002)


def test_delete_run_keeps_responses(engine):
    run = _run(engine)
    item, key = repo.pending_items(engine, run.id)[0]
    rid = _store_response(engine, key, "positive", run_id=run.id)
    repo.attach_responses(engine, [(item, rid)], reused=False)
    repo.delete_run(engine, run.id)
    with pytest.raises(InputError, match=f"no run {run.id}"):
        repo.get_run(engine, run.id)
    assert repo.stored_keys(engine, [key]) == {key: rid}
    assert repo.list_runs(engine).empty


def test_unknown_run_id_is_an_input_error(engine):
    with pytest.raises(InputError, match="no run 42"):
        repo.get_run(engine, 42)


def test_stale_running_runs_are_marked_interrupted(engine):
    run = _run(engine)
    repo.update_run(engine, run.id, status="running", started_at=None, heartbeat_at=None)
    assert repo.mark_stale_runs(engine) == [run.id]
    assert repo.get_run(engine, run.id).status == "interrupted"
    assert repo.find_unfinished_run(engine, "h").id == run.id
