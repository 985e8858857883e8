"""Rebuild ``tests/data/schema_v1.sqlite``: a database as the first release (schema 001_initial only) left it.

    python tests/data/make_schema_v1.py        (from the repository root)

The first release's schema is frozen below (``V1_SCHEMA``: what its models created, taken from
commit 9807e84): no ``runs.cancel_requested`` column (002), no ``call_claims`` table (003), nothing
a later migration added, and only ``001_initial`` in ``schema_migrations``. The data is made with
the current code against the loopback server, then copied into a file with that schema. It holds:

* run 1, ``completed``: the 8 samples below x gpt-4.1-nano, gpt-4.1-mini at temperature 0 (16 answers);
* run 2, ``interrupted`` (its worker "died"): gpt-4.1-nano at temperature 0.7, 2 repeats, 5 or 6 of its
  16 items answered.

The server listens on ``PORT`` (below the ephemeral range) because the base URL is part of every
stored request key: the upgrade test serves the same URL again to resume run 2 and reuse run 1.
Never edit the stored file by hand; change this script and run it again.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI, last_user_text  # noqa: E402
from workbench.config import Secret, Settings  # noqa: E402
from workbench.datasets import parse_csv  # noqa: E402
from workbench.promptfile import parse_prompt  # noqa: E402
from workbench.service import Workbench  # noqa: E402
from workbench.storage import repository as repo  # noqa: E402

TARGET = Path(__file__).with_name("schema_v1.sqlite")
PORT = 28417
KEY = "sk-test-not-real"
V1_TABLES = ("prompt_versions", "datasets", "samples", "responses", "runs", "run_items")  # parents first
V1_SCHEMA = """\
CREATE TABLE prompt_versions (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    yaml TEXT NOT NULL,
    note VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    created_by VARCHAR,
    PRIMARY KEY (id),
    CONSTRAINT uq_prompt_name_hash UNIQUE (name, content_hash)
);
CREATE INDEX ix_prompt_versions_name ON prompt_versions (name);
CREATE INDEX ix_prompt_versions_content_hash ON prompt_versions (content_hash);
CREATE TABLE datasets (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    label_column VARCHAR NOT NULL,
    columns_json VARCHAR NOT NULL,
    n_rows INTEGER NOT NULL,
    source VARCHAR,
    created_at DATETIME NOT NULL,
    created_by VARCHAR,
    PRIMARY KEY (id),
    CONSTRAINT uq_dataset_hash UNIQUE (content_hash)
);
CREATE INDEX ix_datasets_content_hash ON datasets (content_hash);
CREATE TABLE responses (
    id INTEGER NOT NULL,
    request_key VARCHAR NOT NULL,
    base_url VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    request_json TEXT NOT NULL,
    output TEXT,
    finish_reason VARCHAR,
    response_model VARCHAR,
    prompt_tokens INTEGER,
    cached_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd FLOAT,
    price_version VARCHAR,
    latency_ms FLOAT,
    ttft_ms FLOAT,
    logprobs_json TEXT,
    created_at DATETIME NOT NULL,
    run_id INTEGER,
    PRIMARY KEY (id),
    CONSTRAINT uq_response_key UNIQUE (request_key)
);
CREATE INDEX ix_responses_request_key ON responses (request_key);
CREATE TABLE samples (
    id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    "row" INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    variables_json TEXT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_sample_idx UNIQUE (dataset_id, idx),
    FOREIGN KEY(dataset_id) REFERENCES datasets (id)
);
CREATE INDEX ix_samples_dataset_id ON samples (dataset_id);
CREATE TABLE runs (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    plan_hash VARCHAR NOT NULL,
    plan_json TEXT NOT NULL,
    dataset_id INTEGER NOT NULL,
    base_url VARCHAR NOT NULL,
    models_json VARCHAR NOT NULL,
    temperatures_json VARCHAR NOT NULL,
    repeats INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    max_cost_usd FLOAT,
    total_items INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    started_at DATETIME,
    finished_at DATETIME,
    heartbeat_at DATETIME,
    worker VARCHAR,
    created_by VARCHAR,
    key_kind VARCHAR,
    PRIMARY KEY (id),
    FOREIGN KEY(dataset_id) REFERENCES datasets (id)
);
CREATE INDEX ix_runs_status ON runs (status);
CREATE INDEX ix_runs_created_at ON runs (created_at);
CREATE INDEX ix_runs_plan_hash ON runs (plan_hash);
CREATE INDEX ix_runs_dataset_id ON runs (dataset_id);
CREATE TABLE run_items (
    id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    prompt_version_id INTEGER NOT NULL,
    sample_idx INTEGER NOT NULL,
    model VARCHAR NOT NULL,
    temperature FLOAT,
    repeat INTEGER NOT NULL,
    request_key VARCHAR NOT NULL,
    response_id INTEGER,
    reused BOOLEAN NOT NULL,
    error VARCHAR,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(run_id) REFERENCES runs (id),
    FOREIGN KEY(prompt_version_id) REFERENCES prompt_versions (id),
    FOREIGN KEY(response_id) REFERENCES responses (id)
);
CREATE INDEX ix_run_items_run_id ON run_items (run_id);
CREATE INDEX ix_run_items_request_key ON run_items (request_key);
CREATE INDEX ix_run_items_run_cell ON run_items (run_id, model, temperature);
"""

PROMPT = """\
name: sentiment-v1
description: The first release's sentiment prompt.
labels: [positive, negative, neutral]
messages:
  - role: system
    content: Classify the sentiment of the review as positive, negative or neutral. Answer with the label only.
  - role: user
    content: "{{text}}"
"""

SAMPLES = """\
text,label
v01 Loved it,positive
v02 Hated it,negative
v03 It exists,neutral
v04 Superb value,positive
v05 Broke in a day,negative
v06 Arrived on Tuesday,neutral
v07 Would buy again,positive
v08 Never again,negative
"""

GOLD = {line[:3]: line.rsplit(",", 1)[1] for line in SAMPLES.splitlines()[1:]}


def answer(body: dict, call_index: int) -> str:
    """Mini is right; nano calls every third review neutral."""
    marker = last_user_text(body)[:3]
    if body["model"] == "gpt-4.1-nano" and int(marker[1:]) % 3 == 0:
        return "neutral"
    return GOLD[marker].capitalize()


def build(target: Path = TARGET) -> None:
    work = Path(tempfile.mkdtemp(prefix="schema-v1-"))
    db = work / "v1.sqlite"
    with FakeOpenAI(port=PORT, api_keys={KEY}, responder=answer) as server:
        settings = Settings(api_key=Secret(KEY), base_url=server.base_url, database_url=f"sqlite:///{db}")
        bench = Workbench.open(settings)
        prompt = parse_prompt(PROMPT, "sentiment-v1.yaml")
        samples = parse_csv(SAMPLES.encode(), "reviews.csv")

        plan = bench.plan([prompt], samples, ["gpt-4.1-nano", "gpt-4.1-mini"], [0.0], source="reviews.csv")
        done = bench.execute(bench.start(plan, name="first sweep", concurrency=2), plan)
        assert done.status == "completed" and done.new_calls == 16, done

        plan = bench.plan([prompt], samples, ["gpt-4.1-nano"], [0.7], repeats=2, source="reviews.csv")
        stop = threading.Event()
        run = bench.start(plan, name="killed sweep", concurrency=1)
        server.latency = 0.15  # slower than the progress interval, so the stop lands after about 5 answers
        part = bench.execute(
            run, plan, concurrency=1, cancel=stop, on_progress=lambda p: p.new_calls >= 5 and stop.set()
        )
        assert part.status == "cancelled" and 5 <= part.new_calls < 16, part
        repo.update_run(bench.engine, run.id, status="interrupted", error="the worker stopped unexpectedly")
        bench.engine.dispose()

    v1 = work / "schema_v1.sqlite"
    conn = sqlite3.connect(v1, isolation_level=None)
    conn.executescript(V1_SCHEMA)
    conn.execute("CREATE TABLE schema_migrations (name VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40))")
    conn.execute("ATTACH DATABASE ? AS current", (str(db),))
    conn.execute("BEGIN")
    for table in V1_TABLES:
        columns = ", ".join(f'"{row[1]}"' for row in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM current.{table}")
    conn.execute(
        "INSERT INTO main.schema_migrations SELECT name, applied_at FROM current.schema_migrations "
        "WHERE name = '001_initial'"
    )
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE current")
    conn.execute("VACUUM")
    conn.close()
    target.write_bytes(v1.read_bytes())
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    build()
