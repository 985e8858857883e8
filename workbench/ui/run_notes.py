"""What Compare and Export say about a run that has no answers, or not all of them: why, and what next.

A run that failed (a refused key, a model the server does not know) says so with its error, rather
than "no answers yet, follow its progress", which reads as if it were still running.
"""

from __future__ import annotations

import streamlit as st

from workbench.storage.models import Run
from workbench.ui.progress import ACTIVE
from workbench.ui.widgets import plain


def no_answers(run: Run, what: str = "to compare") -> None:
    """The note for a run without answers: still running, or why it stopped."""
    if run.status in ACTIVE:
        st.info(f"Run #{run.id} has no answers {what} yet: follow its progress in the sidebar.")
        return
    reason = plain(run.error) if run.error else "it stopped before any answer"
    st.error(
        f"Run #{run.id} {run.status} with no answers {what}: {reason}. Fix that, then resume it on the Runs page, "
        "or pick another run."
    )


def partial(run: Run) -> None:
    """The note for a run that has some answers but did not complete."""
    if run.status == "completed":
        return
    if run.status in ACTIVE:
        st.info(f"Run #{run.id} is {run.status}: figures cover the answers stored so far.")
        return
    reason = f" ({plain(run.error)})" if run.error else ""
    st.warning(f"Run #{run.id} {run.status}{reason}: figures cover the answers stored so far.")
