"""The Sweep page's panels: spend so far against the caps, the estimate before a run, and why it may not start."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from workbench import budgets
from workbench import formatting as fmt
from workbench.errors import BudgetError, WorkbenchError
from workbench.ui.services import Context
from workbench.ui.widgets import cap_text, plain


def spend_panel(ctx: Context) -> None:
    """Spent today and this month, what is left, and the caps in force."""
    caps = ctx.caps()
    left = budgets.remaining(ctx.engine, caps, ctx.user.id)
    with st.container(border=True):
        m1, m2, m3, m4 = st.columns(4)
        who = "you" if ctx.signed_in else "this workbench"
        m1.metric(f"Spent by {who} today", fmt.money(left["user_spent_today_usd"]))
        m2.metric(
            "Left today", cap_text(left["user_left_today_usd"]), help=f"Daily cap {cap_text(caps.user_daily_usd)}"
        )
        m3.metric("Team, this month", fmt.money(left["team_spent_month_usd"]))
        m4.metric(
            "Left this month",
            cap_text(left["team_left_month_usd"]),
            help=f"Monthly cap {cap_text(caps.team_monthly_usd)}",
        )
        unknown = left["user_unknown_calls_today"] + left["team_unknown_calls_month"]
        st.caption(
            plain(
                f"Caps: {cap_text(caps.per_run_usd)} per run, {cap_text(caps.user_daily_usd)} per person per day "
                f"(UTC), {cap_text(caps.team_monthly_usd)} for the team per month. Runs paid with your own key count "
                "against the per-run cap only."
                + (f" Some calls ({unknown:,}) have no known price and are not in these sums." if unknown else "")
            )
        )


def estimate_panel(est: dict[str, Any]) -> None:
    """Calls, stored answers, new calls and their estimated cost, per model (labelled as estimates)."""
    st.subheader("Before you run")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Calls", f"{est['calls']:,}")
    c2.metric("Stored, free", f"{est['stored']:,}")
    c3.metric("New calls", f"{est['new_calls']:,}")
    c4.metric("Est. cost of new calls", fmt.money(est["est_new_usd"]))
    table = pd.DataFrame(
        [
            {
                "model": m["model"],
                "calls": m["calls"],
                "stored": m["stored"],
                "new": m["new_calls"],
                "prompt tok.": m["prompt_tokens"],
                "completion tok. (est.)": m["est_completion_tokens"],
                "reasoning (est.)": m.get("est_reasoning_tokens", 0),
                "all calls (est.)": fmt.money(m["est_cost_usd"]),
                "new calls (est.)": fmt.money(m["est_new_cost_usd"]),
            }
            for m in est["models"]
        ]
    )
    helps = {
        "stored": "calls already answered and stored: reused for free",
        "reasoning (est.)": "reasoning tokens among the completion tokens (billed as output)",
        "all calls (est.)": "cost of every call of the plan, stored ones included",
        "new calls (est.)": "cost of the calls this run would pay for",
    }
    money = ("all calls (est.)", "new calls (est.)")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            c: (
                st.column_config.TextColumn(c, help=helps[c])
                if c in money
                else st.column_config.NumberColumn(c, format="localized", help=helps.get(c))
            )
            for c in table.columns
            if c != "model"
        },
    )
    st.caption(f"Estimates: {plain(est['estimate'])}.")
    for note in est["notes"]:
        (st.warning if note.startswith("warning:") else st.info)(plain(note))


def refusal_text(refusal: WorkbenchError, est: dict[str, Any]) -> str:
    """The core's one-line refusal, with what to do about it on this screen."""
    if isinstance(refusal, BudgetError) and est["est_new_usd"] is None:
        unknown = ", ".join(m["model"] for m in est["models"] if m["est_cost_usd"] is None)
        return (
            f"Not run: the price of {plain(unknown)} is unknown, so the budget cannot be enforced. Set Budget to "
            "0 (no cap) or add the model to the price catalog (WORKBENCH_CATALOG, or the team price table)."
        )
    if isinstance(refusal, BudgetError):
        return (
            f"Not run: {plain(refusal)}. Raise the budget, make the sweep smaller, use your own key, or ask an admin."
        )
    return f"Not run: {plain(refusal)}."


def refusal(refused: WorkbenchError, est: dict[str, Any]) -> None:
    """A budget refusal as an error, anything else (a model that cannot run) as a warning."""
    show = st.error if isinstance(refused, BudgetError) else st.warning
    show(refusal_text(refused, est))
