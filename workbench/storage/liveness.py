"""Whether a run is alive: the one rule every caller (resume, re-run, the sweep, the UI) uses.

A run is *live* when some process is executing it or is about to: it is ``pending`` and was
created moments ago, or it is ``running`` with a recent heartbeat and its worker is not a dead
process on this host. A live run is never resumed or started twice; anything else that did not
complete may be resumed (its answers so far are stored).
"""

from __future__ import annotations

from datetime import UTC, datetime

from workbench.processes import owner_dead
from workbench.storage.models import Run, utcnow

PENDING_GRACE_S = 60.0  # a run created this recently is about to be started by its maker
HEARTBEAT_STALE_S = 30.0  # a running run without a heartbeat for this long has lost its worker


def is_live(run: Run, stale_after_s: float = HEARTBEAT_STALE_S, now: datetime | None = None) -> bool:
    """A run another live process is executing or about to (recent heartbeat or just created)."""
    moment = (now or utcnow()).timestamp()
    if run.status == "pending":
        return moment - timestamp(run.created_at) < PENDING_GRACE_S
    if run.status != "running":
        return False
    if run.worker and owner_dead(run.worker):
        return False
    return moment - timestamp(run.heartbeat_at or run.started_at) < stale_after_s


def timestamp(moment: datetime | None) -> float:
    """Seconds since the epoch of a stored moment (naive values are UTC; None is the epoch)."""
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
