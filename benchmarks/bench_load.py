"""The shared instance under load: N browser sessions opening Compare at once, and a UI sweep beside them.

    python -m benchmarks.bench_load [--sessions 1,2,4,8] [--samples 300] [--sweep] [--nice-browsers]
                                    [--streamlit-arg=--runner.postScriptGC=true ...]

What it does, all on this machine (so the browsers compete with the server for the same cores: read
the times as upper bounds, or pass ``--nice-browsers`` to let the server go first, as when people's
browsers run on their own machines; the scaling with sessions is the point):
1. starts the loopback OpenAI-compatible server from the tests (answers one of the prompt's labels);
2. stores a run of ``samples × 2 models × 3 temperatures × 3 repeats`` answers with the CLI
   (300 samples: 5,400 answers), timing it (the CLI reference for step 5);
3. starts ``streamlit run app.py`` on that database;
4. for each N in ``--sessions``: opens N headless Chromium tabs (separate browser contexts, so separate
   Streamlit sessions) on ``/compare?run=1`` at once and measures, per tab, the time until every chart
   on the page is drawn; one warm-up round first; prints min / median / max and failures, the server's
   CPU seconds for the round and its resident memory;
5. with ``--sweep``: fills the Sweep page with the same plan on a fresh sample set of the same size and
   presses Run sweep, while 4 tabs keep reloading Compare and Runs, and prints the sweep's time (click to
   the run's end) against the CLI's and whether every answer was stored.

Nothing here is a test: it prints figures. Needs Debian's Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.support.browser import CHROMIUM, LAUNCH_ARGS, app_env, free_port, streamlit_app
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_replies import label_responder

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ROOT / "prompts" / "sentiment.yaml"
MODELS = "gpt-4.1-nano,gpt-4.1-mini"
TEMPERATURES = "0,0.7,1"
REPEATS = 3
IDLE = """() => !document.querySelector(
  '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]')"""
CHARTS_DRAWN = """(expected) => {
  const running = document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]');
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  const drawn = charts.filter((c) => c.querySelector('canvas, svg.marks'));
  return !running && charts.length >= expected && drawn.length === charts.length;
}"""


def write_samples(path: Path, n: int, tag: str = "") -> None:
    """``n`` labeled reviews from the example sample set, each made distinct."""
    rows = list(csv.DictReader((ROOT / "prompts" / "sentiment.csv").open(encoding="utf-8")))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["text", "label"])
        writer.writeheader()
        for i in range(n):
            row = rows[i % len(rows)]
            writer.writerow({"text": f"{row['text']} (#{tag}{i})", "label": row["label"]})


def store_samples(db: Path, path: Path, n: int) -> None:
    from workbench.datasets import load_samples
    from workbench.storage import make_engine
    from workbench.storage import repository as repo

    write_samples(path, n, tag="ui")
    engine = make_engine(f"sqlite:///{db}")
    repo.save_dataset(engine, load_samples(path), source="bench_load")
    engine.dispose()


def cli_sweep(env: dict[str, str], samples: Path) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "workbench", "sweep", "--prompt", str(PROMPT), "--dataset", str(samples)]
    command += ["--models", MODELS, "--temperatures", TEMPERATURES, "--repeats", str(REPEATS)]
    subprocess.run([*command, "--concurrency", "8", "--quiet", "--json"], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


BROWSER = str(CHROMIUM)  # --nice-browsers: a wrapper that starts Chromium at a lower priority


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=BROWSER, headless=True, args=LAUNCH_ARGS)


def nice_browser(folder: Path) -> str:
    """A Chromium that yields the cores to the server: people's browsers run on their own machines."""
    wrapper = folder / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n 15 {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


async def open_compare(browser, url: str, charts: int, limit_s: float) -> float | None:
    """Seconds from navigation until every chart of Compare is drawn (None: not within ``limit_s``)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        tab = await context.new_page()
        start = time.perf_counter()
        await tab.goto(f"{url}/compare?run=1", timeout=limit_s * 1000)
        await tab.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=limit_s * 1000, polling=100)
        return time.perf_counter() - start
    except Exception:
        return None
    finally:
        await context.close()


async def round_of(browser, url: str, n: int, charts: int, limit_s: float) -> list[float | None]:
    return list(await asyncio.gather(*(open_compare(browser, url, charts, limit_s) for _ in range(n))))


def server_process(port: int) -> psutil.Process:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return psutil.Process(conn.pid)
    raise SystemExit(f"no process listens on port {port}")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def describe(times: list[float | None]) -> str:
    done = [t for t in times if t is not None]
    failed = len(times) - len(done)
    if not done:
        return f"all {failed} failed"
    return f"min {min(done):5.1f} s · median {statistics.median(done):5.1f} s · max {max(done):5.1f} s" + (
        f" · {failed} failed" if failed else ""
    )


async def measure(url: str, port: int, sessions: list[int], charts: int, limit_s: float) -> None:
    from playwright.async_api import async_playwright

    server = server_process(port)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            warm = await round_of(browser, url, 1, charts, limit_s)
            print(f"warm-up: {describe(warm)}", flush=True)
            print("| sessions opening Compare at once | time until the charts are drawn | server CPU | server RSS |")
            print("|---|---|---|---|")
            for n in sessions:
                before = cpu_seconds(server)
                times = await round_of(browser, url, n, charts, limit_s)
                used = cpu_seconds(server) - before
                rss = server.memory_info().rss / 2**20
                print(f"| {n} | {describe(times)} | {used:.1f} s | {rss:.0f} MB |", flush=True)
        finally:
            await browser.close()


async def reload_loop(browser, url: str, stop: asyncio.Event, paths: list[str], times: list[float]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = await context.new_page()
    i = 0
    while not stop.is_set():
        start = time.perf_counter()
        try:
            await tab.goto(f"{url}{paths[i % len(paths)]}", timeout=120_000)
            await tab.wait_for_function(CHARTS_DRAWN, arg=1, timeout=120_000, polling=200)
            times.append(time.perf_counter() - start)
        except Exception:
            pass
        i += 1
    await context.close()


def ui_sweep_started(db: Path, before: int) -> int | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("select max(id) from runs").fetchone()
    return row[0] if row and row[0] and row[0] > before else None


def run_state(db: Path, run_id: int) -> tuple[str, int, int]:
    with sqlite3.connect(db) as conn:
        status = conn.execute("select status from runs where id = ?", (run_id,)).fetchone()[0]
        total, stored = conn.execute(
            "select count(*), count(response_id) from run_items where run_id = ?", (run_id,)
        ).fetchone()
    return status, total, stored


async def sweep_under_load(url: str, db: Path, fresh: Path, cli_s: float) -> None:
    """Start the plan from the Sweep page's core inside the server (the Run button) while 4 tabs reload pages."""
    from playwright.async_api import async_playwright

    before = ui_sweep_started(db, 0) or 0
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        stop = asyncio.Event()
        loads: list[float] = []
        loops = [
            asyncio.create_task(reload_loop(browser, url, stop, ["/compare?run=1", "/runs"], loads)) for _ in range(4)
        ]
        tab = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
        await tab.goto(f"{url}/sweep")
        try:
            start = await start_ui_sweep(tab, str(fresh))
        except Exception:
            await tab.screenshot(path="bench-load-sweep.png")
            raise SystemExit("could not start the sweep from the Sweep page: see bench-load-sweep.png") from None
        run_id = None
        while run_id is None:
            await asyncio.sleep(0.5)
            run_id = ui_sweep_started(db, before)
        while True:
            status, total, stored = run_state(db, run_id)
            if status not in ("pending", "running"):
                break
            await asyncio.sleep(0.5)
        took = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*loops)
        await browser.close()
    print(
        f"UI sweep under load: {took:.1f} s ({took / cli_s:.2f}× the CLI's {cli_s:.1f} s), status {status}, "
        f"{stored:,} of {total:,} answers stored; page loads meanwhile: {describe(list(loads))}"
    )


async def settled(tab) -> None:
    """Streamlit has finished the script run the last action caused."""
    await tab.wait_for_timeout(300)
    await tab.wait_for_function(IDLE, timeout=60_000)


async def clear(tab, label: str) -> None:
    """Remove every chosen option of the multiselect ``label``."""
    field = tab.locator('[data-testid="stMultiSelect"]').filter(has=tab.get_by_text(label, exact=True))
    await field.get_by_role("button", name=re.compile("clear all", re.I)).click()
    await settled(tab)


async def choose(tab, label: str, option: str) -> None:
    """Choose the option whose text starts with ``option`` in the select box or multiselect ``label``."""
    await tab.get_by_role("combobox", name=label).click()
    starts = re.compile("^" + re.escape(option).replace("/", r"\/"))  # the pattern travels to the browser as JS
    await tab.get_by_role("option", name=starts).first.click()
    await tab.keyboard.press("Escape")
    await settled(tab)


async def start_ui_sweep(tab, samples_name: str) -> float:
    """Fill the Sweep page with the benchmark's plan and press Run sweep; returns the moment of the click."""
    await tab.get_by_role("heading", name="Sweep", level=1).wait_for(timeout=120_000)
    await settled(tab)
    await clear(tab, "Prompt versions")
    await choose(tab, "Prompt versions", "sentiment v1")
    await choose(tab, "Sample set", samples_name)
    await clear(tab, "Models")
    models = tab.get_by_role("combobox", name="Models")
    for model in MODELS.split(","):
        await models.click()
        await models.fill(model)
        await models.press("Enter")
        await settled(tab)
    await tab.keyboard.press("Escape")
    for label, value in (("Temperatures", TEMPERATURES), ("Repeats", str(REPEATS))):
        field = tab.get_by_label(label, exact=True)
        await field.fill(value)
        await field.press("Enter")
        await settled(tab)
    await tab.get_by_role("button", name="Run sweep").click()
    return time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,2,4,8", help="comma-separated session counts")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a tab may take before it counts as failed")
    parser.add_argument("--sweep", action="store_true", help="also time a UI sweep while 4 tabs reload pages")
    parser.add_argument(
        "--nice-browsers",
        action="store_true",
        help="run Chromium at nice 15, closer to people's browsers on their own machines",
    )
    parser.add_argument("--streamlit-arg", action="append", default=[], help="extra `streamlit run` option")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    sessions = [int(s) for s in args.sessions.split(",") if s.strip()]
    responder = label_responder(["positive", "negative", "neutral"])
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(responder=responder, latency=0.01) as fake:
        folder = Path(tmp)
        if args.nice_browsers:
            global BROWSER
            BROWSER = nice_browser(folder)
        db = folder / "workbench.db"
        env = app_env(
            {
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": fake.base_url,
                "WORKBENCH_DATABASE_URL": f"sqlite:///{db}",
                "WORKBENCH_PROMPTS_DIR": str(ROOT / "prompts"),
            }
        )
        samples = folder / "samples.csv"
        write_samples(samples, args.samples)
        cli_s = cli_sweep({**os.environ, **env}, samples)
        if args.sweep:  # the UI sweep's samples: the same size, other texts (nothing to reuse)
            store_samples(db, folder / "fresh.csv", args.samples)
        answers = args.samples * 2 * 3 * REPEATS
        print(f"run 1: {answers:,} answers stored by the CLI in {cli_s:.1f} s")
        port = free_port()
        with streamlit_app(env, folder / "streamlit.log", port=port, extra=args.streamlit_arg) as url:
            asyncio.run(measure(url, port, sessions, charts=4, limit_s=args.limit))
            if args.sweep:
                asyncio.run(sweep_under_load(url, db, folder / "fresh.csv", cli_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
