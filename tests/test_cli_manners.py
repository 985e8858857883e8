"""The command line's manners: Ctrl-C, a closed pipe, and closest matches for a misspelt name.

Driven as a person drives it: ``python -m workbench`` in a subprocess against the loopback server.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, cli_env
from tests.support.fake_openai import FakeOpenAI
from workbench.suggest import closest, did_you_mean


def _sweep(prompt_file: Path, samples_file: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "workbench", "sweep", "--prompt", str(prompt_file), "--dataset", str(samples_file)]


def test_ctrl_c_twice_keeps_the_answers_in_flight_and_says_how_to_resume(
    fake_server: FakeOpenAI, db_url: str, prompt_file: Path, samples_file: Path
) -> None:
    fake_server.latency = 1.0
    command = [*_sweep(prompt_file, samples_file), "--models", "gpt-4.1-nano", "--concurrency", "2"]
    process = subprocess.Popen(
        command, env=cli_env(fake_server.base_url, db_url), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while fake_server.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # an impatient second Ctrl-C: the calls in flight are paid for all the same
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    billed = len(fake_server.billed())
    assert billed == 2
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        stored = db.execute("SELECT count(*) FROM responses").fetchone()[0]
        ((run_id, status),) = db.execute("SELECT id, status FROM runs").fetchall()
    assert stored == billed and status == "cancelled"
    assert f"python -m workbench resume {run_id}" in err


def test_a_closed_pipe_ends_quietly(fake_server: FakeOpenAI, db_url: str, prompt_file: Path, samples_file: Path):
    env = cli_env(fake_server.base_url, db_url)
    for _ in range(3):  # a few runs, so the table is longer than what `head` reads
        sweep = [*_sweep(prompt_file, samples_file), "--models", "gpt-4.1-nano", "--new-run", "--quiet"]
        subprocess.run(sweep, env=env, cwd=ROOT, capture_output=True, check=True, timeout=60)
    shell = f"{sys.executable} -m workbench runs | head -1"
    done = subprocess.run(["bash", "-c", shell], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.count("\n") == 1
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    # The same, with a reader that leaves before anything is written.
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "runs"], env=env, cwd=ROOT, stdout=reader.stdin, stderr=subprocess.PIPE
    )
    assert b"Traceback" not in done.stderr, done.stderr


def test_a_misspelt_label_column_names_the_closest(run_cli, prompt_file: Path, samples_file: Path) -> None:
    code, _out, err = run_cli(
        ["estimate", "--prompt", str(prompt_file), "--dataset", str(samples_file), "--label-column", "Lable"]
    )
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert "did you mean 'label'?" in err


def test_a_misspelt_model_names_the_closest(run_cli, prompt_file: Path, samples_file: Path) -> None:
    code, _out, err = run_cli(
        ["estimate", "--prompt", str(prompt_file), "--dataset", str(samples_file), "--models", "gpt-4.1-nan"]
    )
    assert code == 0, err
    assert "gpt-4.1-nan: not in the price catalog" in err and "did you mean 'gpt-4.1-nano'" in err


def test_closest_matches() -> None:
    assert closest("gpt-4.1-nan", ["gpt-4.1-nano", "o3", "gpt-4o"])[0] == "gpt-4.1-nano"
    assert closest("LABEL", ["text", "label"]) == ["label"]  # a case-only difference comes first
    assert closest("zzz", ["label", "text"]) == []
    assert did_you_mean("zzz", ["label"]) == ""
    assert did_you_mean("lable", ["label", "text"]) == " (did you mean 'label'?)"
    assert (
        did_you_mean("gpt-4.1", ["gpt-4.1-nano", "gpt-4.1-mini"]) == " (did you mean 'gpt-4.1-nano' or 'gpt-4.1-mini'?)"
    )


def test_nothing_imports_alembic() -> None:
    sources = [path.read_text("utf-8") for path in (ROOT / "workbench").rglob("*.py")]
    assert not any("import alembic" in s or "from alembic" in s for s in sources)
    assert "alembic" not in (ROOT / "requirements.txt").read_text("utf-8")


def test_label_sanity_on_the_command_line(run_cli, prompt_file: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("text,label\na,Positive\nb,positive\nc,negative\nd,neutral\n", encoding="utf-8")
    code, _out, err = run_cli(["estimate", "--prompt", str(prompt_file), "--dataset", str(mixed)])
    assert code == 0, err
    assert "warning: mixed.csv: 'Positive' (1 row) and 'positive' (1 row) are one label written 2 ways" in err
    reviews = tmp_path / "reviews.csv"
    rows = "".join(f'"s{i}","note {i}: a long opinion about the food, the staff and the view"\n' for i in range(12))
    reviews.write_text("text,comment\n" + rows, encoding="utf-8")
    code, _out, err = run_cli(
        ["estimate", "--prompt", str(prompt_file), "--dataset", str(reviews), "--label-column", "comment"]
    )
    assert code == 2
    assert "column 'comment' looks like free text, not labels: 12 distinct values in 12 samples" in err


def test_a_sample_subset_is_named_by_the_file_not_its_path(run_cli, db_url: str, prompt_file: Path, samples_file: Path):
    code, _out, err = run_cli(
        ["sweep", "--prompt", str(prompt_file), "--dataset", str(samples_file.resolve()), "--models", "gpt-4.1-nano",
         "--sample", "3", "--quiet"]
    )  # fmt: skip
    assert code == 0, err
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        names = [row[0] for row in db.execute("SELECT name FROM datasets")]
    assert names == ["samples.csv (stratified 3, seed 0)"]


def _stored_rows(db_url: str) -> tuple[int, int, int]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        tables = ("datasets", "prompt_versions", "runs")
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]
    return counts[0], counts[1], counts[2]


def test_a_refused_sweep_or_an_estimate_stores_nothing(run_cli, db_url: str, prompt_file: Path, samples_file: Path):
    """Issue 19: a `--sample` subset (and its prompt version) was stored even when the sweep was refused."""
    code, _out, err = run_cli(["runs"])  # the database exists, empty
    assert code == 0, err
    before = _stored_rows(db_url)
    sweep = ["sweep", "--prompt", str(prompt_file), "--dataset", str(samples_file), "--models", "gpt-4.1-mini"]
    code, _out, err = run_cli([*sweep, "--sample", "3", "--max-cost", "0.0000001"])
    assert code == 2 and "exceeds the budget" in err and "nothing was called" in err, err
    code, _out, err = run_cli(["estimate", *sweep[1:], "--sample", "4"])
    assert code == 0, err
    assert _stored_rows(db_url) == before == (0, 0, 0)
    code, _out, err = run_cli([*sweep, "--sample", "3", "--quiet"])  # started: stored once, with its run
    assert code == 0, err
    assert _stored_rows(db_url) == (1, 1, 1)
