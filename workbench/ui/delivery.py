"""The Sweep page's choice of delivery mode (standard, flex, batch) and what it says about price and wait."""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench.delivery import BATCH, EXPECTED_WAIT, LABEL, MODES, STANDARD
from workbench.formatting import money
from workbench.ui.widgets import plain

HELP = (
    "Standard: answers now, full price. Flex: the same calls with OpenAI's Flex processing, half price, "
    "slower. Batch API: half price, answers within 24 hours (usually far sooner); the run keeps going if you "
    "close the page or the app restarts. Stored answers are reused whichever way they were bought."
)


def choose(key: str = "sweep_delivery") -> str:
    """A radio of the delivery modes; returns the chosen mode's name."""
    return str(st.radio("Delivery", MODES, format_func=LABEL.get, horizontal=True, key=key, help=HELP, index=0))


def price_and_wait(est: dict[str, Any]) -> None:
    """Under the estimate: the mode's price against standard, and how long it is likely to take."""
    mode = est.get("delivery", STANDARD)
    if mode == STANDARD:
        st.caption(plain(f"Standard delivery: expected wait {EXPECTED_WAIT[STANDARD]}."))
        return
    text = (
        f"{LABEL[mode]}: new calls est. {money(est['est_new_usd'])} instead of "
        f"{money(est['est_new_usd_standard'])} as standard calls. Expected wait: {EXPECTED_WAIT[mode]}."
    )
    if mode == BATCH:
        text += " Progress shows the batches' completed lines; answers are stored when a batch ends."
    st.info(plain(text))
