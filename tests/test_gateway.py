"""Behind a gateway (a LiteLLM-like proxy, :mod:`tests.support.fake_gateway`): what it refuses itself.

- a key refused as ``400 no_db_connection`` or ``401`` keeps the gateway's words, and stops the run;
- a model the gateway does not route stops that model after its first answer, with the gateway's words;
- a parameter it will refuse for every call (temperature on a model that takes none) stops that cell
  after the first answer, says what to change, and lets the other cells finish;
- the same command after a failed run, with a catalog that now plans other calls, starts a new run
  and says so (no KeyError); ``resume`` of the old run marks the calls the plan no longer makes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, ROOT, SAMPLES_CSV, TEST_KEY, cli_env
from tests.support.fake_gateway import FakeGateway
from tests.support.fake_openai import FakeOpenAI

MASTER = "sk-gateway-master-0123456789"
WRONG = "sk-gateway-wrong-9876543210"
MODELS = ["gw-small", "gw-reasoner"]


def catalog(path: Path, reasoner_temperature: str) -> Path:
    entry = {"input": 0.1, "cached_input": 0.025, "output": 0.4, "as_of": "2026-12-01", "source": "test"}
    models = {"gw-small": entry, "gw-reasoner": {**entry, "temperature": reasoner_temperature}}
    path.write_text(json.dumps({"version": "test", "models": models}), encoding="utf-8")
    return path


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys={TEST_KEY}, models=MODELS) as server:
        yield server


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "p.yaml").write_text(PROMPT_YAML, encoding="utf-8")
    (tmp_path / "s.csv").write_text(SAMPLES_CSV, encoding="utf-8")
    return {
        "prompt": tmp_path / "p.yaml",
        "samples": tmp_path / "s.csv",
        "takes": catalog(tmp_path / "takes.yaml", "always"),
        "never": catalog(tmp_path / "never.yaml", "never"),
        "db": tmp_path / "w.db",
    }


def cli(gateway: FakeGateway, files: dict[str, Path], *args: str, key: str = MASTER, cat: str = "takes"):
    env = cli_env(
        gateway.base_url,
        f"sqlite:///{files['db']}",
        key=key,
        WORKBENCH_CATALOG=str(files[cat]),
        WORKBENCH_MAX_ATTEMPTS="3",
    )
    done = subprocess.run(
        [sys.executable, "-m", "workbench", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def sweep_args(files: dict[str, Path], models: str, temperatures: str = "0") -> list[str]:
    return [
        "sweep", "--prompt", str(files["prompt"]), "--dataset", str(files["samples"]),
        "--models", models, "--temperatures", temperatures, "--concurrency", "1",
    ]  # fmt: skip


@pytest.mark.parametrize("database, status, words", [(False, 400, "No connected db."), (True, 401, "Invalid proxy")])
def test_a_refused_key_keeps_the_gateways_words(upstream, files, database, status, words) -> None:
    with FakeGateway(upstream, TEST_KEY, MASTER, MODELS, database=database) as gateway:
        done = cli(gateway, files, *sweep_args(files, "gw-small"), key=WRONG)
    assert done.returncode == 1
    assert words in done.stderr and f"({status}" in done.stderr and "check OPENAI_API_KEY" in done.stderr
    if status == 400:
        assert "no_db_connection" in done.stderr and "master key" in done.stderr
    assert WRONG not in done.stderr and MASTER not in done.stderr
    assert len(gateway.refused) == 1 and upstream.calls == 0  # one try: a refused key stops the run


def test_a_model_the_gateway_does_not_route_stops_after_its_first_answer(upstream, files) -> None:
    with FakeGateway(upstream, TEST_KEY, MASTER, ["gw-small"]) as gateway:
        done = cli(gateway, files, *sweep_args(files, "gw-small,gw-reasoner"))
    assert done.returncode == 1
    assert "Invalid model name passed in model=gw-reasoner" in done.stderr
    assert [body["model"] for _, body in gateway.refused] == ["gw-reasoner"]
    assert upstream.completed == 6  # gw-small's cell finished
    assert "run the same command again" not in done.stderr


def test_a_parameter_the_gateway_refuses_stops_that_cell_only(upstream, files) -> None:
    with FakeGateway(upstream, TEST_KEY, MASTER, MODELS, no_temperature=["gw-reasoner"]) as gateway:
        done = cli(gateway, files, *sweep_args(files, "gw-small,gw-reasoner", "0,0.7"))
    assert done.returncode == 1
    # One refused call per cell of gw-reasoner (two temperatures), not one per sample, and no retries.
    assert [(status, body["temperature"]) for status, body in gateway.refused] == [(400, 0.0), (400, 0.7)]
    assert upstream.completed == 12  # both of gw-small's cells finished
    assert "UnsupportedParamsError" in done.stderr  # the gateway's own words
    assert "sweep reasoning efforts instead" in done.stderr and "temperature: false" in done.stderr
    assert "run the same command again" not in done.stderr


def test_the_same_command_with_a_catalog_that_plans_other_calls_starts_a_new_run(upstream, files) -> None:
    args = sweep_args(files, "gw-small,gw-reasoner", "0,0.7")
    with FakeGateway(upstream, TEST_KEY, MASTER, MODELS, no_temperature=["gw-reasoner"]) as gateway:
        first = cli(gateway, files, *args)
        assert first.returncode == 1
        paid = upstream.completed
        # The catalog now says gw-reasoner takes no temperature: its cells are planned without one.
        again = cli(gateway, files, *args, cat="never")
        assert again.returncode == 0, again.stderr
        assert "run 1 was planned with other calls" in again.stderr and "starting a new run" in again.stderr
        assert upstream.completed == paid + 6  # gw-small's answers reused; gw-reasoner's one cell called
        # Resuming the old run itself marks what its plan no longer makes, instead of crashing.
        resumed = cli(gateway, files, "resume", "1", cat="never")
    assert resumed.returncode == 1
    assert "no longer in this run's plan" in resumed.stderr
    with sqlite3.connect(files["db"]) as db:
        statuses = db.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    assert statuses == [(1, "stopped"), (2, "completed")]
