"""Admin: the team's budgets, the team's price table, and who spent what (admins only).

Budgets and prices set here are stored in the database (:mod:`workbench.storage.team`), so every session
and every server process uses them at once; "Back to the defaults" forgets the budgets set here
and the defaults from secrets or the environment apply again.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import budgets
from workbench import formatting as fmt
from workbench.pricing import Catalog
from workbench.storage import team
from workbench.ui import chrome
from workbench.ui.widgets import cap_text, capped_table, plain, shown_errors
from workbench.usage import NO_SIGN_IN, users_report

FLASH = "admin_flash"
CAPS = {
    "per_run_usd": ("Per run", "admin_per_run", "one sweep, whoever pays"),
    "user_daily_usd": ("Per person per day", "admin_user_daily", "each person, per UTC day, on the server's key"),
    "team_monthly_usd": ("Team per month", "admin_team_monthly", "everyone together, per UTC month, server's key"),
}
PRICE_EXAMPLE = """\
# Same format as the catalog file: USD per 1M tokens. Entries replace or add to the catalog by name.
models:
  my-finetuned-nano:
    input: 0.20
    cached_input: 0.05
    output: 0.80
    as_of: "2025-08-01"
    source: "our contract"
"""

ctx = chrome.page()
st.title("Admin")
if not ctx.can("admin"):
    st.error("Only admins can open this page.")
    st.stop()
st.caption(
    "Budgets and the team's price table apply to every sweep started from this workbench, in every session."
    + (
        " Local mode: without sign-in you are the admin; spend is counted for everyone together."
        if ctx.policy.local
        else ""
    )
)
flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(plain(flash))


# --- budgets ------------------------------------------------------------------------------------
st.subheader("Budgets")
defaults = ctx.budget_defaults
overrides = budgets.overrides(ctx.engine)
in_force = ctx.caps()
st.dataframe(
    pd.DataFrame(
        [
            {
                "cap": label,
                "applies to": what,
                "default (secrets or environment)": cap_text(getattr(defaults, name)),
                "set here": cap_text(overrides[name]) if name in overrides else "—",
                "in force": cap_text(getattr(in_force, name)),
            }
            for name, (label, _, what) in CAPS.items()
        ]
    ),
    hide_index=True,
)
with st.form("admin_budgets", border=True):
    fields = st.columns(3)
    for column, (name, (label, key, _)) in zip(fields, CAPS.items(), strict=True):
        value = getattr(in_force, name)
        column.text_input(
            f"{label} (USD)",
            value="" if value is None else f"{value:g}",
            placeholder="no cap",
            key=key,
            help="Empty: no cap.",
        )
    save_caps = st.form_submit_button("Save budgets", type="primary")
if save_caps:
    with shown_errors():
        chosen = {name: budgets.parse_usd(st.session_state[key], label) for name, (label, key, _) in CAPS.items()}
        budgets.save(ctx.engine, budgets.Budgets(**chosen), updated_by=ctx.user.id)
        st.session_state[FLASH] = "Budgets saved: " + ", ".join(
            f"{CAPS[name][0].lower()} {cap_text(value)}" for name, value in chosen.items()
        )
        st.rerun()
if st.button("Back to the defaults", disabled=not overrides, key="admin_budgets_reset"):
    budgets.reset(ctx.engine)
    for _, key, _ in CAPS.values():
        st.session_state.pop(key, None)
    st.session_state[FLASH] = "Budgets are the defaults from secrets or the environment again."
    st.rerun()

# --- price table --------------------------------------------------------------------------------
st.subheader("Team price table")
st.caption(
    "Prices for models the catalog lacks (a fine-tune, a local model, a negotiated rate), laid over the catalog for "
    "every estimate and every new cost. YAML in the catalog's format; it is checked before it is saved. Empty "
    "removes it."
)
current = budgets.price_overrides(ctx.engine) or ""
with st.form("admin_prices", border=True):
    text = st.text_area("Prices (YAML)", value=current, height=240, placeholder=PRICE_EXAMPLE, key="admin_prices_text")
    save_prices = st.form_submit_button("Check and save", type="primary")
if save_prices:
    with shown_errors():
        budgets.save_price_overrides(ctx.engine, text, ctx.base_catalog, updated_by=ctx.user.id)
        st.session_state[FLASH] = "Price table saved: it applies to estimates and new costs now."
        st.rerun()
stored = team.get_setting(ctx.engine, budgets.PRICES_SETTING)
if stored is not None:
    by = f" by {stored.updated_by}" if stored.updated_by else ""
    st.caption(plain(f"Last changed {stored.updated_at:%Y-%m-%d %H:%M} UTC{by}."))
team_models: set[str] = set()
if current.strip():
    with shown_errors():
        team_models = set(budgets.parse_price_overrides(current, Catalog({}, "")).models)
with st.expander("Prices in force (USD per 1M tokens)"):
    capped_table(
        pd.DataFrame(
            [
                {
                    "model": info.name,
                    "input": float(info.input),
                    "cached input": float(info.cached_input),
                    "output": float(info.output),
                    "from": "team table" if info.name in team_models else "catalog",
                    "as of": info.as_of,
                }
                for info in sorted(ctx.wb.catalog.models.values(), key=lambda i: (i.name not in team_models, i.name))
            ]
        ),
        what="models",
    )

# --- spend per person ---------------------------------------------------------------------------
st.subheader("Spend per person")
report = users_report(ctx.engine, ctx.policy)
people = report["users"] + ([report["unattributed"]] if report["unattributed"] else [])
if not people:
    st.caption("Nobody has made anything yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "person": p["user"] or NO_SIGN_IN,
                    "role": p["role"] or "",
                    "runs": p["runs"],
                    "prompt versions": p["prompt_versions"],
                    "sample sets": p["datasets"],
                    "today": fmt.money(p["today_usd"]),
                    "this month": fmt.money(p["month_usd"]),
                    "total": fmt.money(p["total_usd"]),
                    "own key, total": fmt.money(p["own_key_total_usd"]),
                    "calls of unknown cost": p["total_unknown_cost_calls"],
                    "last seen (UTC)": p["last_seen"] or "",
                }
                for p in people
            ]
        ),
        hide_index=True,
    )
unknown = report["team_month_unknown_cost_calls"]
st.caption(
    plain(
        f"Team this month: {fmt.money(report['team_month_usd'])}, own keys included"
        + (f", plus {unknown:,} calls of unknown cost" if unknown else "")
        + f"; the monthly cap counts the server's key only ({cap_text(in_force.team_monthly_usd)}). "
        "The same figures: python -m workbench users."
    )
)
