"""Shared pieces of the browser tests: ``streamlit run app.py`` on a free port, and Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"streamlit did not become healthy:\n{log.read_text()[-2000:]}")


def app_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without OpenAI, workbench or Streamlit settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_", "STREAMLIT_"))}
    env.update(settings)
    return env


@contextmanager
def streamlit_app(
    env: Mapping[str, str], log: Path, port: int | None = None, extra: Sequence[str] = ()
) -> Iterator[str]:
    """``streamlit run app.py`` with ``env`` on 127.0.0.1; yields its URL once healthy, stops it after."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false", *extra,
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def seeded_app(
    folder: Path,
    key: str,
    seed: Callable[[str, str, Path], Mapping[str, Any]],
    responder: Callable[..., str],
    port: int | None = None,
    extra: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """A fake OpenAI server, a database made by ``seed`` and ``streamlit run app.py`` using them."""
    from tests.support.fake_openai import FakeOpenAI

    with FakeOpenAI(api_keys={key}, responder=responder, latency=0.01) as server:
        seeded = seed(server.base_url, key, folder)
        env = app_env(
            {
                "OPENAI_API_KEY": key,
                "OPENAI_BASE_URL": server.base_url,
                "WORKBENCH_DATABASE_URL": str(seeded["db_url"]),
                "WORKBENCH_PROMPTS_DIR": str(seeded["prompts_dir"]),
                "WORKBENCH_TIMEOUT": "5",
            }
        )
        log = folder / "streamlit.log"
        with streamlit_app(env, log, port=port, extra=extra) as url:
            yield {"url": url, "log": log, "server": server, **seeded}


@contextmanager
def chromium(sync_api: Any) -> Iterator[Any]:
    """Headless Debian Chromium through Playwright."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def settle(tab: Any, title: str) -> None:
    """Wait until the page's title is drawn and Streamlit has finished running the script."""
    tab.get_by_role("heading", name=title, level=1).wait_for()
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
        ' && !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]\')'
    )
    tab.wait_for_timeout(700)  # let charts and tables paint before a screenshot
