"""Who used this workbench: what each person made and spent today, this month and in total.

The one report behind ``python -m workbench users`` and the Admin page's "Spend per person".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from workbench import budgets as money_rules
from workbench.access import AccessPolicy
from workbench.budgets import Spend, day_start, month_start
from workbench.storage import repository as repo

NO_SIGN_IN = "(no sign-in)"


def _spend(rows: list[tuple], user: str | None, own_key_only: bool = False) -> Spend:
    picked = [r for r in rows if r[0] == user and (not own_key_only or r[1] == "user")]
    return Spend(sum(r[2] for r in picked), sum(r[3] for r in picked), sum(r[4] for r in picked))


def users_report(engine: Engine, policy: AccessPolicy, now: datetime | None = None) -> dict[str, Any]:
    """The ``users --json`` object: named users newest first, activity without sign-in, team spend and caps."""
    now = now or datetime.now(UTC)
    periods = {
        "today": repo.spend_rows(engine, day_start(now)),
        "month": repo.spend_rows(engine, month_start(now)),
        "total": repo.spend_rows(engine),
    }
    activity = repo.user_activity(engine)
    users, unattributed = [], None
    for row in activity.itertuples(index=False):
        user = None if row.user is None or row.user != row.user else row.user  # NaN from pandas -> None
        entry: dict[str, Any] = {
            "user": user,
            "role": policy.role_for(user) if policy.auth_enabled and user else None,
            "runs": int(row.runs),
            "prompt_versions": int(row.prompt_versions),
            "datasets": int(row.datasets),
            "last_seen": row.last_seen.isoformat(sep=" ", timespec="seconds") if row.last_seen is not None else None,
        }
        for period, rows in periods.items():
            spent = _spend(rows, user)
            entry[f"{period}_usd"] = round(spent.usd, 9)
            entry[f"{period}_unknown_cost_calls"] = spent.unknown_calls
        entry["own_key_total_usd"] = round(_spend(periods["total"], user, own_key_only=True).usd, 9)
        if user is None:
            unattributed = entry
        else:
            users.append(entry)
    team_month = money_rules.spent_by_team(engine, month_start(now), include_own_key=True)
    return {
        "users": users,
        "unattributed": unattributed,
        "auth_enabled": policy.auth_enabled,
        "team_month_usd": round(team_month.usd, 9),
        "team_month_unknown_cost_calls": team_month.unknown_calls,
    }
