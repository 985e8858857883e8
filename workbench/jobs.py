"""Background sweeps owned by the server process, not by a browser session.

The Streamlit server keeps one :class:`JobManager` (via ``st.cache_resource``); a sweep started
from any page runs in its thread, so closing the tab, reloading or another user's rerun does not
stop it. State that other processes must see lives in the database: the run's status and
heartbeat, its items, and ``cancel_requested`` (so a run can be cancelled from any session or
process). Progress is read from the database too, so a CLI sweep shows up in the UI the same way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from workbench.processes import worker_id
from workbench.runner import Outcome, Progress
from workbench.service import Workbench
from workbench.storage import repository as repo
from workbench.storage.models import Run, utcnow
from workbench.sweep import Plan

log = logging.getLogger("workbench.jobs")
QUEUED_BEAT_S = 5.0  # a run waiting for a slot keeps its heartbeat, so nobody takes it for dead


@dataclass
class Job:
    run_id: int
    thread: threading.Thread
    cancel: threading.Event
    progress: Progress | None = None
    outcome: Outcome | None = None
    error: str | None = None


class JobManager:
    """Runs sweeps in daemon threads; at most ``max_jobs`` at once (more wait their turn)."""

    def __init__(self, wb: Workbench, max_jobs: int = 4):
        self.wb = wb
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_jobs)
        repo.mark_stale_runs(wb.engine)

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

            def on_progress(progress: Progress) -> None:
                job.progress = progress

            try:
                job.outcome = wb.execute(
                    run,
                    plan,
                    concurrency=concurrency,
                    max_cost_usd=max_cost,
                    on_progress=on_progress,
                    cancel=job.cancel,
                )
            except Exception as exc:
                log.exception("run %s failed", run.id)
                job.error = str(exc).split("\n")[0]
                repo.update_run(self.wb.engine, run.id, status="failed", error=job.error)
        finally:
            self._slots.release()

    def background(self, wb: Workbench, run: Run, plan: Plan, concurrency: int, max_cost_usd: float | None) -> Job:
        """The UI's executor for :func:`workbench.runs.launch`: the run goes on in this process's background."""
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
