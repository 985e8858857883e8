"""A run's results frame and report, cached per run state, and CSV bytes for downloads.

Every number comes from :func:`workbench.metrics.build_report`; this module only decides when to
recompute (when the run's answer count, error count or status changed) and formats for display.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from workbench import metrics
from workbench.csvsafe import to_csv_bytes
from workbench.storage import repository as repo
from workbench.storage.results import results_frame


@st.cache_data(ttl=600, max_entries=16, show_spinner="Scoring the run…")
def _report(
    database: str, run_id: int, state: tuple, tolerance: float, _engine: Engine
) -> tuple[pd.DataFrame, dict[int, list[str]], dict[str, Any]]:
    frame, labels = results_frame(_engine, run_id)
    return frame, labels, metrics.build_report(frame, labels, run_id, tolerance)


def run_report(
    engine: Engine, run_id: int, tolerance: float
) -> tuple[pd.DataFrame, dict[int, list[str]], dict[str, Any]]:
    """``(results frame, labels, report)`` for a run; recomputed only when the run has changed."""
    counts = repo.run_progress(engine, run_id)
    status = repo.get_run(engine, run_id).status
    state = (counts["total"], counts["answered"], counts["errors"], status)
    return _report(engine.url.render_as_string(hide_password=True), run_id, state, tolerance, engine)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for download, with cells a spreadsheet would run as formulas escaped (:mod:`workbench.csvsafe`)."""
    return to_csv_bytes(frame)
