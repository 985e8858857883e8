"""A run's results as the pages draw them, computed once per run version and shared by every session.

Every number comes from :func:`workbench.metrics.build_report`; this module only decides when to
recompute and keeps what is expensive to draw. A :class:`RunView` is built once per run *version*
(its item count, answer count, error count and status: a finished run never changes) and held by
``st.cache_resource``, so every session that opens the same run shares one object instead of
recomputing, copying or re-serialising it: the report, and memoised derived things such as chart
specs (Altair's ``to_dict`` validates the whole spec, which cost more than the report itself) and
download files. The cache keeps a few runs (:data:`VIEWS_KEPT`), so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from workbench import metrics
from workbench.csvsafe import to_csv_bytes
from workbench.storage import repository as repo
from workbench.storage.results import results_frame

VIEWS_KEPT = 6  # run versions × tolerances kept in memory per server process
MEMO_KEPT = 64  # derived things kept per view (chart specs, tables, cascades of cell pairs), oldest dropped first
T = TypeVar("T")


@dataclass
class RunView:
    """One version of a run's results, shared read-only by every session that shows it."""

    frame: pd.DataFrame
    labels: dict[int, list[str]]
    report: dict[str, Any]
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _building: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once for this view, whichever session asks first; the same object after that.

        Sessions asking for the same key wait for one build; other keys are not held up meanwhile (a
        cascade being simulated for one person does not stall everyone's charts). At most
        :data:`MEMO_KEPT` things are kept; the oldest is dropped (and rebuilt if asked again)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            value = build()
            with self._lock:
                self._memo[key] = value
                self._building.pop(key, None)
                while len(self._memo) > MEMO_KEPT:
                    self._memo.pop(next(iter(self._memo)))
            return value

    def chart(self, key: str, build: Callable[[], Any]) -> dict[str, Any]:
        """The Vega-Lite spec of an Altair chart, built and serialised once (draw with ``st.vega_lite_chart``)."""
        return self.memo(f"chart:{key}", lambda: build().to_dict())


@st.cache_resource(ttl=3600, max_entries=VIEWS_KEPT, show_spinner="Scoring the run…")
def _view(
    database: str,
    run_id: int,
    state: tuple,
    tolerance: float,
    target: float | None,
    volume: float | None,
    _engine: Engine,
) -> RunView:
    frame, labels = results_frame(_engine, run_id)
    return RunView(frame, labels, metrics.build_report(frame, labels, run_id, tolerance, target=target, volume=volume))


def run_view(
    engine: Engine, run_id: int, tolerance: float, target: float | None = None, volume: float | None = None
) -> RunView:
    """The shared view of a run as it is now; recomputed only when the run has changed.

    ``target`` (a required accuracy, as a share) and ``volume`` (items a month) as in ``build_report``.
    """
    counts = repo.run_progress(engine, run_id)
    status = repo.get_run(engine, run_id).status
    state = (counts["total"], counts["answered"], counts["errors"], status)
    database = engine.url.render_as_string(hide_password=True)
    return _view(database, run_id, state, tolerance, target, volume, engine)


def draw(where: Any, view: RunView, name: str, build: Callable[[], Any], **kwargs: Any) -> None:
    """Draw the chart ``build()`` makes of ``view`` in ``where`` (a column, a container or ``st``); its spec
    is built and serialised once per run version for every session (``kwargs`` go to ``vega_lite_chart``)."""
    where.vega_lite_chart(view.chart(name, build), **kwargs)


def run_report(
    engine: Engine, run_id: int, tolerance: float, target: float | None = None, volume: float | None = None
) -> tuple[pd.DataFrame, dict[int, list[str]], dict[str, Any]]:
    """``(results frame, labels, report)`` for a run; recomputed only when the run has changed."""
    view = run_view(engine, run_id, tolerance, target, volume)
    return view.frame, view.labels, view.report


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for download, with cells a spreadsheet would run as formulas escaped (:mod:`workbench.csvsafe`)."""
    return to_csv_bytes(frame)
