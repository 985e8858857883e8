"""The shared instance under load: N browser sessions opening Compare at once, and a UI sweep beside them.

    python -m benchmarks.bench_load [--sessions 1,2,4,8] [--samples 300] [--visits first,returning]
                                    [--sweep [--tabs 4]] [--nice-browsers]
                                    [--streamlit-arg=--runner.postScriptGC=true ...]

What it does, all on this machine (so the browsers compete with the server for the same cores: read
the times as upper bounds, or pass ``--nice-browsers`` to let everything else go first, closer to
people's browsers on their own machines; the scaling with sessions is the point):
1. starts the loopback OpenAI-compatible server from the tests (answers one of the prompt's labels) in a
   process and session of its own (the real API runs elsewhere);
2. stores a run of ``samples × 2 models × 3 temperatures × 3 repeats`` answers with the CLI
   (300 samples: 5,400 answers), timing it (the CLI reference for step 5);
3. starts ``streamlit run app.py`` on that database;
4. for each N in ``--sessions``: opens N headless Chromium tabs (separate browser contexts, so separate
   Streamlit sessions) on ``/compare?run=1`` at once and measures, per tab, the time until every chart
   on the page is drawn; one warm-up round first; prints min / median / max and failures, where a load's
   time went (until the server's last websocket frame, the drawing after it, the bytes sent), the CPU
   seconds the server, the browsers, the model API's stand-in and the rest (this script) used for the
   round, and the server's resident memory. Each N twice (``--visits``): first visits (empty browser
   caches) and returning people (their browser has the app's static files from an earlier visit);
5. with ``--sweep``: the same plan, each time on fresh samples of the same size (nothing to reuse), swept
   (a) by the CLI while ``--tabs`` tabs (4) keep reloading Compare and Runs, (b) from the Sweep page (fill
   it, press Run sweep) with no other tab open, (c) from the Sweep page while the tabs reload; prints
   each time (from the click to the run's end for the UI) against the quiet CLI's of step 2 and the
   loaded CLI's, and whether every answer was stored. (a) and (b) isolate the causes: the tabs' load on
   the machine, and what the UI path itself adds (the worker's start, reporting progress).

Nothing here is a test: it prints figures. Needs Debian's Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.support.browser import CHROMIUM, LAUNCH_ARGS, app_env, free_port, streamlit_app

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


@contextlib.contextmanager
def model_server(latency: float) -> Iterator[str]:
    """The loopback OpenAI-compatible server, answering one of the prompt's labels, in a process and a
    session of its own: the real API runs elsewhere, so its stand-in must not share this script's
    interpreter lock (busy driving the tabs) nor its scheduling group; yields its base URL."""
    command = [sys.executable, "-m", "tests.support.fake_openai", "--port", "0", "--latency", str(latency)]
    command += ["--labels", "positive,negative,neutral", "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_samples(path: Path, n: int, tag: str = "") -> None:
    """``n`` labeled reviews from the example sample set, each made distinct."""
    rows = list(csv.DictReader((ROOT / "prompts" / "sentiment.csv").open(encoding="utf-8")))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["text", "label"])
        writer.writeheader()
        for i in range(n):
            row = rows[i % len(rows)]
            writer.writerow({"text": f"{row['text']} (#{tag}{i})", "label": row["label"]})


def write_fresh(folder: Path, n: int, tag: str) -> Path:
    """A sample set of ``n`` rows no earlier sweep has seen (so nothing is reused)."""
    path = folder / f"{tag}.csv"
    write_samples(path, n, tag=tag)
    return path


def store_samples(db: Path, path: Path, n: int, tag: str) -> None:
    """Store ``n`` fresh samples as a sample set named after ``path``, for the Sweep page to pick."""
    from workbench.datasets import load_samples
    from workbench.storage import make_engine
    from workbench.storage import repository as repo

    write_samples(path, n, tag=tag)
    engine = make_engine(f"sqlite:///{db}")
    repo.save_dataset(engine, load_samples(path), source="bench_load")
    engine.dispose()


def cli_sweep(env: dict[str, str], samples: Path) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "workbench", "sweep", "--prompt", str(PROMPT), "--dataset", str(samples)]
    command += ["--models", MODELS, "--temperatures", TEMPERATURES, "--repeats", str(REPEATS)]
    subprocess.run(  # a session of its own, as from a terminal
        [*command, "--concurrency", "8", "--quiet", "--json"],
        env=env,
        check=True,
        capture_output=True,
        start_new_session=True,
    )
    return time.perf_counter() - start


NICE_BROWSERS = False  # --nice-browsers


async def launch(playwright):
    """Headless Chromium; with ``--nice-browsers`` its whole session yields the CPU to everything else.

    Playwright starts Chromium in a session of its own, and Linux schedules each session as one group
    (autogroup) with the CPU shared fairly between groups, so ``nice`` on Chromium's processes changes
    nothing against the server: the group's own nice value (``/proc/PID/autogroup``) does."""
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
    if NICE_BROWSERS:
        for process in psutil.Process().children(recursive=True):
            if "chrom" in process.name().lower():
                Path(f"/proc/{process.pid}/autogroup").write_text("15")
    return browser


@dataclass
class Load:
    """One tab's Compare load: total time, and where it went."""

    total: float | None  # navigation until every chart is drawn (None: not within the limit)
    server: float  # navigation until the server's last websocket frame of the load
    received: int  # bytes the server sent over the websocket for the load


async def open_compare(context, url: str, charts: int, limit_s: float) -> Load:
    """Open Compare in a new tab (a new Streamlit session) of ``context`` and time it until every chart is drawn."""
    frames: list[tuple[float, int]] = []

    def follow(ws) -> None:
        ws.on("framereceived", lambda payload: frames.append((time.perf_counter(), len(payload))))

    start = time.perf_counter()
    tab = await context.new_page()
    try:
        tab.on("websocket", follow)
        start = time.perf_counter()
        await tab.goto(f"{url}/compare?run=1", timeout=limit_s * 1000)
        await tab.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=limit_s * 1000, polling=100)
        total: float | None = time.perf_counter() - start
    except Exception:
        total = None
    finally:
        await tab.close()
    last = max((t for t, _ in frames), default=start)
    return Load(total, last - start, sum(n for _, n in frames))


async def round_of(browser, url: str, n: int, charts: int, limit_s: float, returning: bool, server: int):
    """N people open Compare at once, each in a browser of their own: the loads and the CPU they took.

    First visits start from empty browser caches; ``returning`` people opened the app before (on an
    earlier day: the static files, which Streamlit serves as immutable, are in their cache)."""
    contexts = [await browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(n)]
    try:
        if returning:
            for context in contexts:
                await open_compare(context, url, charts, limit_s)
            await asyncio.sleep(1)
        work = asyncio.gather(*(open_compare(context, url, charts, limit_s) for context in contexts))
        loads, cpu = await measured(work, server)
        return list(loads), cpu
    finally:
        for context in contexts:
            await context.close()


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


def breakdown(loads: list[Load]) -> str:
    """Median share of a load that is the server's (until its last frame) and the browser's (drawing after)."""
    done = [load for load in loads if load.total is not None]
    if not done:
        return "–"
    server = statistics.median(load.server for load in done)
    browser = statistics.median(load.total - load.server for load in done if load.total is not None)
    kb = statistics.median(load.received for load in done) / 1024
    return f"{server:.1f} s / {browser:.1f} s / {kb:,.0f} kB"


async def measure(url: str, port: int, sessions: list[int], visits: list[str], charts: int, limit_s: float) -> None:
    from playwright.async_api import async_playwright

    server = server_process(port)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            warm, _ = await round_of(browser, url, 1, charts, limit_s, False, server.pid)
            print(f"warm-up: {describe([w.total for w in warm])}", flush=True)
            print(
                "| sessions opening Compare at once | visit | time until the charts are drawn "
                "| until the last frame / drawing after it / sent (medians) | CPU meanwhile | server RSS |"
            )
            print("|---|---|---|---|---|---|")
            for n in sessions:
                for visit in visits:
                    loads, cpu = await round_of(browser, url, n, charts, limit_s, visit == "returning", server.pid)
                    rss = server.memory_info().rss / 2**20
                    times = describe([w.total for w in loads])
                    print(f"| {n} | {visit} | {times} | {breakdown(loads)} | {cpu} | {rss:.0f} MB |", flush=True)
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


async def cli_sweep_async(env: dict[str, str], samples: Path) -> float:
    """The CLI's sweep of the plan on ``samples``, timed from start to exit (while the event loop runs on)."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "workbench", "sweep", "--prompt", str(PROMPT), "--dataset", str(samples)]
    command += ["--models", MODELS, "--temperatures", TEMPERATURES, "--repeats", str(REPEATS)]
    process = await asyncio.create_subprocess_exec(
        *command, "--concurrency", "8", "--quiet", "--json", env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    if await process.wait():
        raise SystemExit(f"the CLI sweep of {samples} failed")
    return time.perf_counter() - start


async def ui_sweep(browser, url: str, db: Path, samples_name: str) -> tuple[float, str, int, int]:
    """Fill the Sweep page, press Run sweep and wait for the run's end: (seconds from the click, status,
    items, answers stored)."""
    before = ui_sweep_started(db, 0) or 0
    tab = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    await tab.goto(f"{url}/sweep")
    try:
        start = await start_ui_sweep(tab, samples_name)
    except Exception:
        await tab.screenshot(path="bench-load-sweep.png")
        raise SystemExit("could not start the sweep from the Sweep page: see bench-load-sweep.png") from None
    run_id = None
    while run_id is None:
        await asyncio.sleep(0.2)
        run_id = ui_sweep_started(db, before)
    while True:
        status, total, stored = run_state(db, run_id)
        if status not in ("pending", "running"):
            break
        await asyncio.sleep(0.2)
    took = time.perf_counter() - start
    await tab.context.close()
    return took, status, total, stored


class CpuMeter:
    """CPU seconds used while it runs, per part: the server, the sweep's process (the CLI or the app's
    worker), the browsers, the loopback model API, the rest (this script, Playwright's driver)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.stop = asyncio.Event()

    def part(self, process: psutil.Process) -> str:
        if process.pid == self.server_pid:
            return "server"
        command = " ".join(process.cmdline())
        if "workbench.worker" in command or "workbench sweep" in command:
            return "sweep"
        if "tests.support.fake_openai" in command:
            return "model API"
        return "browsers" if "chrom" in process.name().lower() else "rest"

    def sample(self, initial: bool = False) -> None:
        for process in psutil.process_iter():
            try:
                used = cpu_seconds(process)
                self.last[process.pid] = (self.part(process), used)
            except psutil.Error:
                continue
            if initial:
                self.first[process.pid] = used

    async def follow(self) -> None:
        self.sample(initial=True)
        while not self.stop.is_set():
            await asyncio.sleep(0.25)
            self.sample()

    def totals(self) -> str:
        parts: dict[str, float] = {}
        for pid, (part, used) in self.last.items():
            parts[part] = parts.get(part, 0.0) + used - self.first.get(pid, 0.0)
        shown = [
            part for part in ("sweep", "server", "browsers", "model API", "rest") if part != "sweep" or part in parts
        ]
        return ", ".join(f"{part} {parts.get(part, 0.0):.1f} s" for part in shown)


async def measured(work, server_pid: int):
    """``work``'s result and the CPU it and everything else used meanwhile (:class:`CpuMeter`)."""
    meter = CpuMeter(server_pid)
    follower = asyncio.create_task(meter.follow())
    try:
        return await work, meter.totals()
    finally:
        meter.stop.set()
        await follower


async def with_tabs(browser, url: str, tabs: int, work, loads: list[float]):
    """Run ``work`` (a coroutine) while ``tabs`` tabs keep reloading Compare and Runs; its result."""
    stop = asyncio.Event()
    paths = ["/compare?run=1", "/runs"]
    loops = [asyncio.create_task(reload_loop(browser, url, stop, paths, loads)) for _ in range(tabs)]
    if tabs:
        await asyncio.sleep(5)  # the tabs are loading pages by then
    try:
        return await work
    finally:
        stop.set()
        await asyncio.gather(*loops)


async def sweeps(
    url: str, port: int, db: Path, env: dict[str, str], folder: Path, n: int, cli_s: float, tabs: int
) -> None:
    """The same plan, each time on fresh samples (nothing to reuse): by the CLI while ``tabs`` tabs reload
    Compare and Runs, from the Sweep page with no other tab open, and from the Sweep page under that load;
    with the CPU each part of the machine used meanwhile."""
    from playwright.async_api import async_playwright

    server = server_process(port).pid
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        loads: list[float] = []
        cli = cli_sweep_async(env, write_fresh(folder, n, "cli"))
        cli_loaded, cpu = await measured(with_tabs(browser, url, tabs, cli, loads), server)
        print(f"CLI sweep, quiet: {cli_s:.1f} s", flush=True)
        print(
            f"CLI sweep under load ({tabs} tabs reloading Compare and Runs): {cli_loaded:.1f} s "
            f"({cli_loaded / cli_s:.2f}× quiet); CPU: {cpu}; page loads meanwhile: {describe(list(loads))}",
            flush=True,
        )
        store_samples(db, folder / "ui-quiet.csv", n, "quiet")
        (took, status, total, stored), cpu = await measured(
            ui_sweep(browser, url, db, str(folder / "ui-quiet.csv")), server
        )
        print(
            f"UI sweep, no other tab: {took:.1f} s ({took / cli_s:.2f}× the quiet CLI), status {status}, "
            f"{stored:,} of {total:,} answers stored; CPU: {cpu}",
            flush=True,
        )
        store_samples(db, folder / "ui-load.csv", n, "load")
        loads.clear()
        ui = ui_sweep(browser, url, db, str(folder / "ui-load.csv"))
        (took, status, total, stored), cpu = await measured(with_tabs(browser, url, tabs, ui, loads), server)
        await browser.close()
    print(
        f"UI sweep under load: {took:.1f} s ({took / cli_s:.2f}× the quiet CLI, {took / cli_loaded:.2f}× the CLI "
        f"under the same load), status {status}, {stored:,} of {total:,} answers stored; CPU: {cpu}; page loads "
        f"meanwhile: {describe(list(loads))}"
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
    parser.add_argument(
        "--visits",
        default="first,returning",
        help="first (empty browser caches), returning (the app's static files cached from an earlier visit), or both",
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a tab may take before it counts as failed")
    parser.add_argument(
        "--sweep", action="store_true", help="also time the plan swept by the CLI and from the Sweep page, under load"
    )
    parser.add_argument("--tabs", type=int, default=4, help="tabs reloading Compare and Runs during --sweep")
    parser.add_argument(
        "--nice-browsers",
        action="store_true",
        help="Chromium's scheduling group at nice 15, closer to people's browsers on their own machines",
    )
    parser.add_argument("--streamlit-arg", action="append", default=[], help="extra `streamlit run` option")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    sessions = [int(s) for s in args.sessions.split(",") if s.strip()]
    visits = [v.strip() for v in args.visits.split(",") if v.strip()]
    if set(visits) - {"first", "returning"}:
        raise SystemExit("--visits takes first, returning or both (comma-separated)")
    with tempfile.TemporaryDirectory() as tmp, model_server(latency=0.01) as base_url:
        folder = Path(tmp)
        if args.nice_browsers:
            global NICE_BROWSERS
            NICE_BROWSERS = True
        db = folder / "workbench.db"
        env = app_env(
            {
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": base_url,
                "WORKBENCH_DATABASE_URL": f"sqlite:///{db}",
                "WORKBENCH_PROMPTS_DIR": str(ROOT / "prompts"),
            }
        )
        samples = folder / "samples.csv"
        write_samples(samples, args.samples)
        cli_s = cli_sweep({**os.environ, **env}, samples)
        answers = args.samples * 2 * 3 * REPEATS
        print(f"run 1: {answers:,} answers stored by the CLI in {cli_s:.1f} s")
        port = free_port()
        with streamlit_app(env, folder / "streamlit.log", port=port, extra=args.streamlit_arg) as url:
            asyncio.run(measure(url, port, sessions, visits, charts=4, limit_s=args.limit))
            if args.sweep:
                asyncio.run(sweeps(url, port, db, {**os.environ, **env}, folder, args.samples, cli_s, args.tabs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
