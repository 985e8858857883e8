"""What is running on this server: read from the database once per interval for every session.

The sidebar of every open page shows the running sweeps. Asking the database from each session
every two seconds made idle tabs cost the server a query pair and a script run each; this module
reads the running runs and their counts once per :data:`POLL_S` for the whole server process
(``st.cache_data`` with a time-to-live, shared by all sessions), and tells the pages whether there
is anything to watch at all: with no sweep running, nothing polls.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlalchemy.engine import Engine

from workbench.storage import repository as repo
from workbench.storage.models import Run
from workbench.ui.services import Context

POLL_S = 2.0  # how often a page that shows a running sweep looks again


@dataclass(frozen=True)
class Counts:
    """A run's progress counts as the database has them (see :func:`repository.run_progress`)."""

    total: int
    answered: int
    errors: int
    spent_usd: float | None

    @property
    def done(self) -> int:
        return min(self.answered + self.errors, self.total)


@dataclass(frozen=True)
class Activity:
    running: tuple[tuple[Run, Counts], ...]  # running runs, oldest first
    interrupted: int  # runs that can be resumed on the Runs page

    @property
    def watching(self) -> bool:
        return bool(self.running)

    def counts(self, run_id: int) -> Counts | None:
        return next((counts for run, counts in self.running if run.id == run_id), None)


def _read(engine: Engine) -> Activity:
    running = []
    for run in repo.runs_with_status(engine, ["running"]):
        raw = repo.run_progress(engine, run.id)
        spent = raw["spent_usd"]
        spent_usd = None if spent is None else float(spent)
        counts = Counts(int(raw["total"] or 0), int(raw["answered"] or 0), int(raw["errors"] or 0), spent_usd)
        running.append((run, counts))
    return Activity(tuple(running), len(repo.runs_with_status(engine, ["interrupted"])))


@st.cache_data(ttl=POLL_S, max_entries=8, show_spinner=False)
def _shared(database: str, here: tuple[int, ...], _engine: Engine) -> Activity:
    """One read per ``POLL_S`` per database and set of this process's jobs, whichever session asks
    (``_engine`` is not hashed)."""
    return _read(_engine)


def current(ctx: Context, fresh: bool = False) -> Activity:
    """The running sweeps: ``fresh`` from the database (a page drawn because someone navigated or
    clicked), else at most :data:`POLL_S` old (what the polls of every session share). The shared read
    is also made afresh as soon as a sweep of this server process starts or ends (its job list is part
    of the cache key), so a Run click shows at once."""
    engine = ctx.engine
    if fresh:
        return _read(engine)
    return _shared(engine.url.render_as_string(hide_password=True), tuple(sorted(ctx.jobs.running())), engine)
