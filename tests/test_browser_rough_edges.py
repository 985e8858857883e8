"""In a real browser: Back leaves Compare and Export in one press, and the 1,400 px screens are shot.

``streamlit run app.py`` with the seeded database, headless Debian Chromium through Playwright.
Screenshots of Sweep, Compare, Runs and Export go to ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, chromium, seeded_app, settle
from tests.test_ui_apptest import answer, seed_database

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")


@pytest.fixture(scope="module")
def tab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    folder = tmp_path_factory.mktemp("rough")
    with seeded_app(folder, "sk-rough-edges", seed_database, answer) as app, chromium(sync_api) as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page, str(app["url"])
        context.close()


@pytest.mark.parametrize(("path", "title"), [("compare", "Compare"), ("export", "Export")])
def test_back_leaves_the_page_in_one_press(tab, path: str, title: str) -> None:
    page, url = tab
    page.goto(f"{url}/")
    settle(page, "Prompt workbench")
    page.goto(f"{url}/{path}")
    settle(page, title)
    page.go_back()
    page.wait_for_url(f"{url}/", timeout=10_000)  # not /compare without ?run= first


@pytest.mark.parametrize(("path", "title"), [("sweep", "Sweep"), ("compare?run=1", "Compare"), ("runs", "Runs"),
                                             ("export?run=1", "Export")])  # fmt: skip
def test_screens_at_1400_px(tab, path: str, title: str) -> None:
    page, url = tab
    page.goto(f"{url}/{path}")
    settle(page, title)
    if title == "Sweep":
        page.get_by_text("Before you run").wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"rough-edges-{title.lower()}.png"), full_page=True)
