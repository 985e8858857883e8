"""The real thing: ``streamlit run app.py`` driven by headless Chromium (Debian's) through Playwright.

Against a loopback OpenAI-compatible server and a seeded SQLite file: upload a sample file, run a
small sweep from the Sweep page, open Compare and see the charts drawn, then open every page of
the navigation. No page may show an exception, and the API key may appear neither in any page's
HTML nor in the server log. Screenshots go to ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, chromium, seeded_app, settle
from tests.support.fake_openai import FakeOpenAI
from tests.test_ui_apptest import answer, seed_database

pytestmark = pytest.mark.browser

KEY = "sk-browser-test"
# (URL path, page title); Compare opens the seeded run (two temperatures, two repeats, disagreements).
CHARTS = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg.marks"  # drawn by vega-embed
PAGES = [("", "Prompt workbench"), ("prompts", "Prompts"), ("samples", "Samples"), ("sweep", "Sweep"),
         ("compare?run=1", "Compare"), ("runs", "Runs"), ("export?run=1", "Export")]  # fmt: skip

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A fake OpenAI server, a seeded database and ``streamlit run app.py`` on free ports."""
    folder = tmp_path_factory.mktemp("browser")
    with seeded_app(folder, KEY, seed_database, answer) as started:
        yield started


@pytest.fixture(scope="module")
def browser(app: dict[str, object]) -> Iterator[object]:
    with chromium(sync_api) as launched:
        yield launched


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        yield tab
    finally:
        context.close()


def check_clean(tab, name: str) -> None:
    html = tab.content()
    assert tab.locator("[data-testid='stException']").count() == 0, f"{name}: exception box"
    assert "Traceback" not in html, name
    assert KEY not in html, f"{name}: the API key is in the page"


def shoot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def test_upload_sweep_compare_and_every_page(app: dict[str, object], page, tmp_path: Path) -> None:
    url = str(app["url"])
    server: FakeOpenAI = app["server"]  # type: ignore[assignment]

    # A first request straight to a page URL gets the app's navigation and sidebar.
    page.goto(f"{url}/runs")
    settle(page, "Runs")
    assert page.get_by_text("Connection").count() == 1
    check_clean(page, "runs-first")

    # Samples: upload a file, see it checked, store it.
    sample = tmp_path / "tickets.csv"
    sample.write_text("ticket,queue\nMy card was charged twice,billing\nThe app crashes,technical\n", encoding="utf-8")
    page.goto(f"{url}/samples")
    settle(page, "Samples")
    page.locator("input[type='file']").set_input_files(str(sample))
    page.get_by_text("2 samples, 2 labels").wait_for()
    page.get_by_role("button", name="Store this sample set").click()
    page.get_by_text("Stored as").wait_for()
    settle(page, "Samples")
    check_clean(page, "samples")
    shoot(page, "samples-upload")

    # Sweep: the seeded prompt on its samples at one temperature, run in the background.
    page.goto(f"{url}/sweep")
    settle(page, "Sweep")
    prompts = page.get_by_role("combobox", name="Prompt versions")
    prompts.press("Backspace")  # remove the preselected newest version
    prompts.click()
    page.get_by_role("option", name="sentiment-test v1").click()
    page.keyboard.press("Escape")
    settle(page, "Sweep")
    page.get_by_role("combobox", name="Sample set").click()
    page.get_by_role("option", name="reviews.csv").click()
    settle(page, "Sweep")
    temperatures = page.get_by_role("textbox", name="Temperatures")
    temperatures.fill("0.3, 0.6")
    temperatures.press("Enter")
    settle(page, "Sweep")
    assert page.get_by_text("Before you run").count() == 1
    shoot(page, "sweep-estimate")
    billed = len(server.billed())
    page.get_by_role("button", name="Run sweep").click()
    page.get_by_text("Completed:").wait_for()
    # today's default pair (gpt-6-luna, gpt-6-sol) x (effort none at 2 temperatures + effort low) x 6 samples, all new
    assert len(server.billed()) - billed == 36
    settle(page, "Sweep")
    check_clean(page, "sweep")
    shoot(page, "sweep-done")

    # Compare: follow the link; the charts are drawn by vega-embed.
    page.get_by_role("link", name="in Compare").click()
    settle(page, "Compare")
    page.wait_for_function(f"() => document.querySelectorAll({CHARTS!r}).length >= 4")
    chosen = page.get_by_role("combobox", name="Run")
    assert "sentiment-test on reviews.csv" in (chosen.input_value() or chosen.inner_text())
    check_clean(page, "compare")
    shoot(page, "compare-new-run")

    # Every page of the navigation.
    page.set_viewport_size({"width": 1400, "height": 4000})  # Streamlit scrolls inside the page: show it all
    for path, title in PAGES:
        page.goto(f"{url}/{path}")
        settle(page, title)
        if title == "Compare":  # the verdict, leaderboard and charts; the details open on request
            page.wait_for_function(f"() => document.querySelectorAll({CHARTS!r}).length >= 4")
            shoot(page, "compare-opened")
            for section in ("Confusion matrix", "Where the answers disagree", "Paired tests", "Cascade"):
                page.get_by_role("button", name=section).click()
                settle(page, title)
            page.wait_for_function(f"() => document.querySelectorAll({CHARTS!r}).length >= 5")
            page.get_by_role("heading", name="Where the answers disagree").wait_for()
            page.get_by_role("heading", name="Paired comparisons").wait_for()
        name = path.split("?")[0] or "home"
        check_clean(page, name)
        shoot(page, name)
    nav = page.locator("[data-testid='stSidebarNav']")
    titles = [text.strip().split("\n")[-1] for text in nav.locator("a").all_inner_texts()]  # after the icon
    assert titles == ["Home", "Prompts", "Samples", "Sweep", "Compare", "Runs", "Export", "Admin"]  # local: admin

    log = Path(str(app["log"])).read_text()
    shutil.copy(app["log"], ARTIFACTS / "browser-streamlit.log")
    assert KEY not in log
    assert "Traceback" not in log, log[-3000:]
