"""Progress of a sweep, from this process's job when it runs here, else from the database.

A sweep started from another session, another server process or the CLI shows up the same way:
its counts come from :func:`workbench.storage.repository.run_progress`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from workbench import formatting as fmt
from workbench.storage import batches
from workbench.storage import repository as repo
from workbench.storage.models import Run, utcnow
from workbench.ui import activity
from workbench.ui.services import Context
from workbench.ui.widgets import plain

ACTIVE = ("pending", "running")
RESUMABLE = ("interrupted", "failed", "stopped", "cancelled")
QUIET_AFTER_S = 60.0  # a running run without a heartbeat for this long has probably lost its worker


@dataclass(frozen=True)
class Snapshot:
    total: int
    done: int
    errors: int
    spent_usd: float | None
    eta_s: float | None
    here: bool  # executed by this server process

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0


def snapshot(ctx: Context, run_id: int) -> Snapshot:
    """This process's job's own progress when it runs here; else the server's shared read of the
    database (:mod:`workbench.ui.activity`), or the database itself for a run that is not running."""
    job = ctx.jobs.job(run_id)
    if job is not None and job.progress is not None and job.thread.is_alive():
        p = job.progress
        return Snapshot(p.total, p.done, p.errors, p.spent_usd, p.eta_s, True)
    shared = activity.current(ctx).counts(run_id)
    if shared is not None:
        return Snapshot(shared.total, shared.done, shared.errors, shared.spent_usd, None, job is not None)
    counts = repo.run_progress(ctx.engine, run_id)
    total = int(counts["total"] or 0)
    errors = int(counts["errors"] or 0)
    done = min(int(counts["answered"] or 0) + errors, total)
    spent = counts["spent_usd"]
    return Snapshot(total, done, errors, float(spent) if spent is not None else None, None, job is not None)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def quiet_for(run: Run) -> float | None:
    """Seconds since the run's last heartbeat (None when it never started)."""
    moment = run.heartbeat_at or run.started_at
    if moment is None:
        return None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return (utcnow() - moment).total_seconds()


def show(ctx: Context, run: Run, key: str, compact: bool = False) -> Snapshot:
    """A progress bar with done/total, spent, errors and time left, and a Cancel button for whoever may
    change the run (its maker, an admin)."""
    snap = snapshot(ctx, run.id)
    text = (
        f"#{run.id} {plain(run.name)}: {snap.done:,}/{snap.total:,}" if compact else f"{snap.done:,} of {snap.total:,}"
    )
    st.progress(snap.fraction, text=text)
    parts = [f"spent {fmt.money(snap.spent_usd)}", f"{snap.errors:,} errors"]
    if snap.eta_s is not None:
        parts.append(f"about {duration(snap.eta_s)} left")
    live = batches.progress(ctx.engine, run.id) if run.delivery == "batch" else None
    if live and live["batches"]:
        parts.append(
            f"{live['batches']} batch(es) on the server ({live['completed']:,} of {live['lines']:,} lines done)"
        )
    quiet = quiet_for(run)
    if not snap.here and quiet is not None and quiet > QUIET_AFTER_S:
        parts.append(f"no sign of life for {duration(quiet)}")
    st.caption(plain(" · ".join(parts)))
    if run.cancel_requested:
        st.caption("Cancelling…")
    elif ctx.user.may_change(run.created_by) and st.button(
        "Cancel", key=f"{key}_cancel_{run.id}", help="Stop this sweep; answers so far are kept"
    ):
        ctx.jobs.cancel(run.id)
        st.toast(f"Cancelling run #{run.id}…")
    return snap
