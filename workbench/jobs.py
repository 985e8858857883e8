"""Background sweeps owned by the server, not by a browser session, each in a worker process.

The Streamlit server keeps one :class:`JobManager` (via ``st.cache_resource``); a sweep started
from any page runs in the background, so closing the tab, reloading or another user's rerun does not
stop it. State that other processes must see lives in the database: the run's status and
heartbeat, its items, and ``cancel_requested`` (so a run can be cancelled from any session or
process). Progress is read from the database too, so a CLI sweep shows up in the UI the same way.

**Why a worker process** (:mod:`workbench.worker`, the default): a sweep is CPU-bound on this side
(the SDK, JSON, commits) and so are page reruns; in the server's process they share one interpreter
lock, and a sweep started from the Sweep page took five times the CLI's time while four people had
Compare and Runs open. A thread of this manager watches each worker: it reads the worker's progress
and outcome (JSON lines on its stdout), passes Cancel on (a line on its stdin), and the worker stops
(its run resumable, ``interrupted``) when its stdin closes because the server is gone.

The worker starts in a session of its own, as a CLI sweep started from its own terminal is. Linux
schedules each session as one group (autogroup) and shares the CPU fairly between groups, so the
sweep's share does not shrink with how busy the server's group is (page reruns, static files); with
four tabs reloading Compare and Runs the server used ~0.3 of a core and it made no measurable
difference (``benchmarks/bench_load.py --sweep``). A Ctrl-C in the server's terminal reaches only the
server; the worker sees its stdin close and stops as above.
``processes=False`` runs sweeps in this process's threads instead (tests that need no process).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO

from workbench.config import Settings
from workbench.processes import worker_id
from workbench.runner import Outcome, Progress
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.models import Run, utcnow
from workbench.sweep import Plan

log = logging.getLogger("workbench.jobs")
QUEUED_BEAT_S = 5.0  # a run waiting for a slot keeps its heartbeat, so nobody takes it for dead
SETTING_PREFIXES = ("OPENAI_", "WORKBENCH_")  # replaced in a worker's environment by the run's own settings


@dataclass
class Job:
    run_id: int
    thread: threading.Thread
    cancel: threading.Event
    progress: Progress | None = None
    outcome: Outcome | None = None
    error: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)


class JobManager:
    """Runs sweeps in the background; at most ``max_jobs`` at once (more wait their turn)."""

    def __init__(self, wb: Workbench, max_jobs: int = 4, processes: bool = True):
        self.wb = wb
        self.processes = processes
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_jobs)
        repo.mark_stale_runs(wb.engine)
        self.pick_up_batches()

    def pick_up_batches(self) -> list[int]:
        """Reattach to batch runs whose batches are still on the server (after a restart or a Ctrl-C'd CLI).

        Batch runs take hours; they must not wait for someone to press Resume. Only runs paid with the
        server's key are picked up (a user's own key is not kept).
        """
        from workbench.delivery import BATCH
        from workbench.storage import batches

        picked = []
        for run in repo.runs_with_status(self.wb.engine, ["interrupted"]):
            if run.delivery != BATCH or run.key_kind not in ("server", None):
                continue
            if not batches.jobs(self.wb.engine, run.id, uncollected=True):
                continue
            try:
                plan = self.wb.plan_for_run(run)
            except Exception as exc:  # the run cannot be rebuilt here (another server): leave it
                log.warning("cannot pick up batch run %s: %s", run.id, exc)
                continue
            self.submit(run, plan)
            picked.append(int(run.id or 0))
        return picked

    def submit(
        self,
        run: Run,
        plan: Plan,
        concurrency: int | None = None,
        max_cost_usd: float | None = None,
        workbench: Workbench | None = None,
    ) -> Job:
        """Start executing ``run`` in the background (``workbench`` may carry a user's own key)."""
        with self._lock:
            existing = self._jobs.get(run.id)
            if existing and existing.thread.is_alive():
                return existing
            cancel = threading.Event()
            job = Job(run.id, threading.Thread(), cancel)
            job.thread = threading.Thread(
                target=self._execute,
                args=(job, run, plan, concurrency, max_cost_usd, workbench or self.wb),
                name=f"workbench-run-{run.id}",
                daemon=True,
            )
            self._jobs[run.id] = job
        # Live from now on (workbench.storage.liveness), also while it waits for a free slot.
        repo.update_run(
            self.wb.engine,
            run.id,
            status="running",
            cancel_requested=False,
            worker=worker_id(),
            heartbeat_at=utcnow(),
        )
        job.thread.start()
        return job

    def _execute(
        self, job: Job, run: Run, plan: Plan, concurrency: int | None, max_cost: float | None, wb: Workbench
    ) -> None:
        while not self._slots.acquire(timeout=QUEUED_BEAT_S):
            repo.update_run(self.wb.engine, run.id, heartbeat_at=utcnow())
        try:
            if self.processes:
                self._in_worker(job, run, concurrency, max_cost, wb.settings)
            else:
                job.outcome = wb.execute(
                    run,
                    plan,
                    concurrency=concurrency,
                    max_cost_usd=max_cost,
                    on_progress=lambda progress: setattr(job, "progress", progress),
                    cancel=job.cancel,
                )
        except Exception as exc:
            log.exception("run %s failed", run.id)
            job.error = str(exc).split("\n")[0]
            repo.update_run(self.wb.engine, run.id, status="failed", error=job.error)
        finally:
            self._slots.release()

    def _in_worker(
        self, job: Job, run: Run, concurrency: int | None, max_cost: float | None, settings: Settings
    ) -> None:
        """Execute ``run`` in ``python -m workbench.worker`` and follow it until it ends."""
        command = [sys.executable, "-m", "workbench.worker", str(run.id)]
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        if max_cost is not None:
            command += ["--max-cost", repr(max_cost)]
        env = {name: value for name, value in os.environ.items() if not name.startswith(SETTING_PREFIXES)}
        env.update(settings.to_env())  # the run's own settings, its key included: never on the command line
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own share of the CPU beside page reruns (see the module's docstring)
        )
        job.process = process
        errors: list[str] = []
        reader = threading.Thread(target=_collect, args=(process.stderr, errors), daemon=True)
        reader.start()
        canceller = threading.Thread(target=_pass_cancel, args=(job, process), daemon=True)
        canceller.start()
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line) if line.startswith("{") else {}
            if "progress" in message:
                job.progress = Progress(**message["progress"])
            elif "outcome" in message:
                job.outcome = _outcome(message["outcome"])
        process.wait()
        reader.join(timeout=5)
        job.cancel.set()  # ends the canceller thread
        if job.outcome is None:
            reason = errors[-1] if errors else f"the worker process ended with exit code {process.returncode}"
            job.error = reason.removeprefix("error: ")
            if repo.get_run(self.wb.engine, run.id).status in ("pending", "running"):
                repo.update_run(self.wb.engine, run.id, status="failed", error=job.error)

    def background(self, wb: Workbench, run: Run, plan: Plan, concurrency: int, max_cost_usd: float | None) -> Job:
        """The UI's executor for :func:`workbench.runs.launch`: the run goes on in the background."""
        return self.submit(run, plan, concurrency=concurrency, max_cost_usd=max_cost_usd, workbench=wb)

    def cancel(self, run_id: int) -> None:
        """Ask a run to stop, wherever it executes (this process or another)."""
        repo.update_run(self.wb.engine, run_id, cancel_requested=True)
        with self._lock:
            job = self._jobs.get(run_id)
        if job is not None:
            job.cancel.set()

    def job(self, run_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id)

    def running(self) -> list[int]:
        with self._lock:
            return [rid for rid, job in self._jobs.items() if job.thread.is_alive()]


def _collect(stream: IO[str] | None, lines: list[str]) -> None:
    """Keep a worker's stderr lines (its one-line error is the last); log them."""
    for line in stream or ():
        line = line.rstrip()
        if line:
            lines.append(line)
            log.warning("worker: %s", line)


def _pass_cancel(job: Job, process: subprocess.Popen) -> None:
    """Tell the worker to stop once Cancel is pressed here (it also sees ``cancel_requested``)."""
    job.cancel.wait()
    if process.poll() is None and process.stdin is not None:
        try:
            process.stdin.write("cancel\n")
            process.stdin.flush()
        except OSError:  # it has just ended
            pass


def _outcome(data: dict) -> Outcome:
    spent = data.get("spent_usd")
    return Outcome(**{**data, "spent_usd": None if spent is None else Decimal(spent)})
