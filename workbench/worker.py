"""One stored run executed in a process of its own: ``python -m workbench.worker RUN_ID``.

The app's background sweeps (:mod:`workbench.jobs`) run here rather than in a thread of the
Streamlit server, so that page reruns and sweeps do not share one interpreter lock.

The run was planned, checked against every budget and stored by :mod:`workbench.runs` before this
process starts; this process only executes it, as ``resume`` does. Settings come from the
environment the parent passes (:meth:`workbench.config.Settings.to_env`), the API key included, never
the command line (which other users of the machine can read).

Talking to the parent: progress and, at the end, the outcome go to stdout as JSON lines; a line
``cancel`` on stdin cancels the run, and stdin closing means the parent is gone (the server stopped or
died): the run stops like an interrupted one, its answers kept, and is left ``interrupted`` for
Resume. Errors go to stderr, one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.runner import Outcome, Progress

log = logging.getLogger("workbench.worker")
PARENT_GONE = "the app server that started this sweep stopped; resume it on the Runs page"


def _tell(kind: str, value: Progress | Outcome) -> None:
    """One JSON line for the parent (an outcome's exact Decimal spend travels as a string)."""
    sys.stdout.write(json.dumps({kind: dataclasses.asdict(value)}, default=str) + "\n")
    sys.stdout.flush()


def _listen(cancel: threading.Event, parent_gone: threading.Event) -> None:
    """``cancel`` on stdin, or stdin closed (the parent is gone): stop the run."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            cancel.set()
            return
    parent_gone.set()
    cancel.set()


def execute(settings: Settings, run_id: int, concurrency: int | None, max_cost_usd: float | None) -> str:
    """Execute run ``run_id`` to its end, reporting to the parent; returns its final status."""
    from workbench import budgets
    from workbench.service import Workbench
    from workbench.storage import repository as repo

    wb = Workbench.open(settings)
    wb.catalog = budgets.catalog_with_overrides(wb.engine, wb.catalog)  # the team's prices, as in the app
    run = repo.get_run(wb.engine, run_id)
    plan = wb.plan_for_run(run)
    cancel, parent_gone = threading.Event(), threading.Event()
    threading.Thread(target=_listen, args=(cancel, parent_gone), daemon=True, name="worker-stdin").start()
    outcome = wb.execute(
        run,
        plan,
        concurrency=concurrency,
        max_cost_usd=max_cost_usd,
        on_progress=lambda progress: _tell("progress", progress),
        cancel=cancel,
        leave=parent_gone,  # a batch run's batches keep running on the server; a restarted app picks them up
    )
    if parent_gone.is_set() and outcome.status == "cancelled":
        repo.update_run(wb.engine, run_id, status="interrupted", error=PARENT_GONE)
        outcome = dataclasses.replace(outcome, status="interrupted", error=PARENT_GONE)
    _tell("outcome", outcome)
    return outcome.status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", type=int)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--max-cost", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        status = execute(Settings.from_env(), args.run_id, args.concurrency, args.max_cost)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        from workbench.local.server import SERVERS

        SERVERS.stop_all()  # the llama.cpp servers this sweep started, if any
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
