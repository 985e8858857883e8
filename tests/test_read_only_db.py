"""A database this user cannot write (issue 12, item 9): reading commands work, writing ones say why.

The CLI runs in a subprocess as a user who can read the SQLite file but not write it (or its folder):
with ``chmod`` when the tests are not root; as root, whom ``chmod`` does not stop, as the unprivileged
user ``nobody`` when it can run this Python, else with the file made immutable (``chattr +i``, which
stops root too, the same refusal SQLite meets). Without any of these the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, ROOT, SAMPLES_CSV, TEST_KEY, cli_env
from tests.support.fake_openai import FakeOpenAI

NOBODY = 65534
Runner = Callable[..., subprocess.CompletedProcess[str]]


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _nobody_can_run_python() -> bool:
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import sqlalchemy, workbench"],
            preexec_fn=_as_nobody,
            cwd="/",
            env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            timeout=60,
        )
    except OSError:  # the interpreter itself is out of reach (e.g. under /root)
        return False
    return probe.returncode == 0


def _chattr(flag: str, *paths: Path) -> bool:
    if not shutil.which("chattr"):
        return False
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder any user can reach (pytest's own tmp folders are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="wb-readonly-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        _chattr("-i", path, *path.iterdir()) if os.geteuid() == 0 else None
        path.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stored_run(folder: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A database holding one completed run, made by a sweep against the loopback server."""
    (folder / "prompt.yaml").write_text(PROMPT_YAML, encoding="utf-8")
    (folder / "samples.csv").write_text(SAMPLES_CSV, encoding="utf-8")
    db = folder / "workbench.db"
    server = FakeOpenAI(api_keys={TEST_KEY})
    try:
        env = cli_env(server.base_url, f"sqlite:///{db}")
        sweep = [sys.executable, "-m", "workbench", "sweep", "--prompt", str(folder / "prompt.yaml")]
        sweep += ["--dataset", str(folder / "samples.csv"), "--models", "gpt-4.1-mini", "--quiet"]
        subprocess.run(sweep, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
        yield db, env
    finally:
        server.close()
    for name in os.listdir(folder):
        os.chmod(folder / name, 0o644)  # the fixture's cleanup may remove everything


@contextmanager
def read_only(db: Path, folder_too: bool) -> Iterator[Runner]:
    """Runs ``python -m workbench`` as someone who can read ``db`` and not write it."""
    folder = db.parent
    sqlite3.connect(db).close()  # the last connection closing folds the journal into the file
    preexec: Callable[[], None] | None = None
    undo: Callable[[], None]
    if os.geteuid() != 0:
        db.chmod(0o444)
        folder.chmod(0o555 if folder_too else 0o755)

        def undo() -> None:
            folder.chmod(0o755)
            db.chmod(0o644)

    elif _nobody_can_run_python():
        db.chmod(0o644)  # root's file: nobody reads it, cannot write it
        folder.chmod(0o755 if folder_too else 0o777)
        preexec = _as_nobody

        def undo() -> None:
            folder.chmod(0o755)

    else:
        targets = [db, folder] if folder_too else [db]
        if not _chattr("+i", *targets):
            pytest.skip(
                "running as root, the unprivileged user cannot run this Python (it lives in a private folder) "
                "and chattr +i is not available: no way to make the database read-only for the CLI"
            )

        def undo() -> None:
            _chattr("-i", *targets)

    def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workbench", *args],
            env=env,
            cwd="/",
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        yield run
    finally:
        undo()


@pytest.mark.parametrize("folder_too", [False, True], ids=["file read-only", "file and folder read-only"])
def test_reading_commands_work_on_a_read_only_database(stored_run, folder_too: bool) -> None:
    db, env = stored_run
    with read_only(db, folder_too) as run:
        listed = run(["runs"], env)
        shown = run(["show", "1"], env)
        as_json = run(["show", "1", "--json"], env)
        files = ["--prompt", str(db.parent / "prompt.yaml"), "--dataset", str(db.parent / "samples.csv")]
        refused = run(["sweep", *files], env)
        refused_resume = run(["resume", "1"], env)
    assert listed.returncode == 0, listed.stderr
    assert "completed" in listed.stdout and "6/6 answered" in listed.stdout
    assert shown.returncode == 0, shown.stderr
    assert "gpt-4.1-mini" in shown.stdout and "run 1: completed" in shown.stdout
    assert as_json.returncode == 0 and '"run_id": 1' in as_json.stdout
    for done in (refused, refused_resume):
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: cannot write the database {db}: ") and "read-only" in line


def test_an_older_read_only_database_says_it_cannot_be_upgraded(stored_run) -> None:
    db, env = stored_run
    conn = sqlite3.connect(db)  # as if made by a version before the newest migration
    newest = conn.execute("SELECT max(name) FROM schema_migrations").fetchone()[0]
    conn.execute("DELETE FROM schema_migrations WHERE name = ?", (newest,))
    conn.commit()
    conn.close()
    with read_only(db, folder_too=True) as run:
        listed = run(["runs"], env)
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
    (line,) = listed.stderr.strip().splitlines()
    assert f"the database {db} is older than this workbench (1 schema upgrade(s) pending)" in line
    assert "open it once with write access" in line
