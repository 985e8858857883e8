"""A form that remembers: the values of a page's widgets, kept for the session when the page is left.

Streamlit drops a widget's state when a run does not draw it (another page is open), so a form
returns to its defaults on every visit. :func:`restore` puts the kept values back before the widgets
are drawn, :func:`initial` gives a widget its default only when there is no kept value (Streamlit
warns when both are set), and :func:`keep` copies the values aside after they are drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

PREFIX = "_kept_"


def restore(keys: Iterable[str]) -> None:
    """Before the widgets: bring back what this session chose last time (unless a widget holds a value)."""
    for key in keys:
        if key not in st.session_state and PREFIX + key in st.session_state:
            st.session_state[key] = st.session_state[PREFIX + key]


def initial(key: str, **default: Any) -> dict[str, Any]:
    """``default`` (e.g. ``value=1``) when the widget has no value yet, else nothing."""
    return {} if key in st.session_state else default


def keep(keys: Iterable[str]) -> None:
    """After the widgets: remember their values for the next visit."""
    for key in keys:
        if key in st.session_state:
            st.session_state[PREFIX + key] = st.session_state[key]


def forget(key: str) -> None:
    """Drop a widget's value and what was kept of it (its default applies again)."""
    st.session_state.pop(key, None)
    st.session_state.pop(PREFIX + key, None)
