"""The shared instance under load: shared run views, polling only while something runs, settings for workers."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, app_env, chromium, streamlit_app
from workbench.config import Secret, Settings
from workbench.ui.results import MEMO_KEPT, RunView


def test_settings_to_env_round_trips_every_field():
    """A worker process must see exactly the parent's settings; a new field left out of to_env fails here."""
    changed = {
        "api_key": Secret("sk-worker"),
        "base_url": "http://127.0.0.1:9/v1",
        "database_url": "sqlite:////tmp/x.db",
        "catalog_path": "/tmp/catalog.yaml",
        "prompts_dir": Path("/tmp/prompts"),
        "timeout": 2.5,
        "max_attempts": 3,
        "flex_timeout": 120.0,
        "flex_backoff": 1.5,
        "batch_poll": 0.25,
        "local_gguf": Path("/tmp/model.gguf"),
        "local_base_url": "http://127.0.0.1:8/v1",
        "local_models": ("a", "b"),
    }
    defaults = Settings()
    settings = replace(defaults, **{k: v for k, v in changed.items() if hasattr(defaults, k)})
    untested = [
        f.name
        for f in fields(Settings)
        if getattr(settings, f.name) == getattr(defaults, f.name) and f.name not in ("concurrency",)
    ]
    assert not untested, f"give these fields a non-default value here and in Settings.to_env: {untested}"
    assert Settings.from_env(settings.to_env()) == replace(settings, concurrency=defaults.concurrency)


def test_run_view_builds_each_derived_thing_once_for_every_session():
    builds = []

    def build():
        builds.append(1)
        time.sleep(0.05)
        return {"spec": len(builds)}

    view = RunView(frame=None, labels={}, report={})  # type: ignore[arg-type]
    results = []
    threads = [threading.Thread(target=lambda: results.append(view.memo("chart", build))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert all(result is results[0] for result in results)


def test_run_view_builds_other_things_while_a_slow_one_is_being_built():
    """A cascade simulated for one session must not stall everyone's charts of the same run."""
    view = RunView(frame=None, labels={}, report={})  # type: ignore[arg-type]
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "cascade"

    slow_one = threading.Thread(target=view.memo, args=("cascade", slow))
    slow_one.start()
    assert started.wait(5)
    began = time.monotonic()
    assert view.memo("chart", lambda: "spec") == "spec"
    assert time.monotonic() - began < 1, "another key waited for the slow build"
    release.set()
    slow_one.join()
    assert view.memo("cascade", lambda: "rebuilt") == "cascade"


def test_run_view_keeps_a_bounded_number_of_derived_things():
    view = RunView(frame=None, labels={}, report={})  # type: ignore[arg-type]
    for i in range(MEMO_KEPT + 10):
        view.memo(f"cascade {i}", lambda i=i: i)
    assert len(view._memo) == MEMO_KEPT
    assert view.memo("cascade 0", lambda: "rebuilt") == "rebuilt"  # the oldest went first
    assert view.memo(f"cascade {MEMO_KEPT + 9}", lambda: "rebuilt") == MEMO_KEPT + 9


# --- in a browser: an idle tab costs the server nothing ------------------------------------------------


@pytest.mark.browser
def test_sidebar_polls_only_while_a_sweep_runs(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from workbench.datasets import load_samples
    from workbench.promptfile import load_prompt
    from workbench.service import Workbench
    from workbench.storage import repository as repo
    from workbench.storage.models import utcnow

    db = tmp_path / "workbench.db"
    wb = Workbench.open(Settings(database_url=f"sqlite:///{db}", base_url="http://127.0.0.1:9/v1"))
    prompts = Path(__file__).resolve().parents[1] / "prompts"
    plan = wb.plan([load_prompt(prompts / "sentiment.yaml")], load_samples(prompts / "sentiment.csv"), ["m"], [0.0])
    run = wb.start(plan, name="live one")
    engine = wb.engine
    env = app_env({"WORKBENCH_DATABASE_URL": f"sqlite:///{db}", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    with streamlit_app(env, tmp_path / "streamlit.log") as url, chromium(sync_api) as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        frames: list[float] = []
        tab.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(time.monotonic())))

        def sent_during(seconds: float) -> int:
            start = time.monotonic()
            tab.wait_for_timeout(seconds * 1000)
            return sum(1 for moment in frames if moment >= start)

        tab.goto(f"{url}/runs")
        tab.get_by_role("heading", name="Runs", level=1).wait_for()
        tab.get_by_text("None right now.").wait_for()
        tab.wait_for_timeout(1500)
        assert sent_during(6) == 0, "an idle tab must not poll the server"

        # A sweep runs (a live worker: this test process): the sidebar shows it and follows it.
        worker = f"{socket.gethostname()}:{os.getpid()}"
        repo.update_run(engine, run.id, status="running", worker=worker, started_at=utcnow(), heartbeat_at=utcnow())
        tab.reload()
        tab.get_by_text("#1 live one").first.wait_for()
        assert sent_during(5) >= 2, "a tab showing a running sweep follows it"

        # It ends: the sidebar notices, redraws the page once and stops polling.
        repo.update_run(engine, run.id, status="completed", heartbeat_at=utcnow())
        tab.get_by_text("None right now.").wait_for(timeout=15_000)
        tab.wait_for_timeout(1500)
        assert sent_during(6) == 0, "polling stops once nothing runs"
