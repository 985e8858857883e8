"""Money on a shared instance: budgets, spend so far, refusals before any call, the team's price table.

Decisions that live here:

- **Three caps.** A per-run cap, a per-user daily cap (UTC day) and a team monthly cap (UTC
  calendar month). Defaults come from secrets (``[workbench.budgets]``) or the environment
  (``WORKBENCH_BUDGET_RUN_USD``, ``WORKBENCH_BUDGET_USER_DAILY_USD``,
  ``WORKBENCH_BUDGET_TEAM_MONTHLY_USD``; the environment wins); an admin may override them in the
  app, stored in the database (:mod:`workbench.storage.team`). ``None`` is "no cap".
- **Spend is new responses.** A response counts once, on the day it arrived, for the user who
  made the run that paid for it (``Response.run_id -> Run.created_by``). Reused answers cost
  nothing. Unknown costs (a model missing from the price table) are counted as calls and said so.
- **Budgets guard the server's key.** Runs paid with a user's own key (``key_kind == "user"``)
  do not count against the daily or monthly caps and are not refused by them; the per-run cap
  still applies to them as a safety net.
- **Refuse before any call**, with the figures, when the estimate of the new calls exceeds what
  is left; an unknown estimate with any cap set is refused (it cannot be checked). The runner then
  gets the smallest of the caps as ``max_cost_usd`` (:func:`run_cap`) so spending also stops
  mid-run when the estimate was low.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from workbench import formatting as fmt
from workbench import yamlsafe
from workbench.access import LOCAL_USER
from workbench.errors import BudgetError, InputError
from workbench.pricing import Catalog
from workbench.storage import repository as repo
from workbench.storage import team
from workbench.storage.engine import write_session

FIELDS = ("per_run_usd", "user_daily_usd", "team_monthly_usd")
ENV = {
    "per_run_usd": "WORKBENCH_BUDGET_RUN_USD",
    "user_daily_usd": "WORKBENCH_BUDGET_USER_DAILY_USD",
    "team_monthly_usd": "WORKBENCH_BUDGET_TEAM_MONTHLY_USD",
}
SETTING = {name: f"budget.{name}" for name in FIELDS}
PRICES_SETTING = "pricing.override_yaml"
NO_CAP = "none"
EPSILON = 1e-9
BUDGET_LOCK_ID = 0x5EED_B0D6  # the PostgreSQL advisory lock that serialises reservations


@dataclass(frozen=True)
class Budgets:
    """Caps in USD; None means no cap."""

    per_run_usd: float | None = None
    user_daily_usd: float | None = None
    team_monthly_usd: float | None = None

    @classmethod
    def from_config(cls, secrets: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Budgets:
        """Defaults from the environment, else ``[workbench.budgets]`` (or the same WORKBENCH_ names) in secrets."""
        secrets = secrets or {}
        env = os.environ if env is None else env
        found = secrets.get("workbench")
        workbench: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        section = workbench.get("budgets") or {}
        if not isinstance(section, Mapping):
            raise InputError("secrets.toml: [workbench.budgets] must be a section")
        values: dict[str, float | None] = {}
        for name in FIELDS:
            raw, where = env.get(ENV[name]), ENV[name]
            if raw in (None, ""):
                raw, where = secrets.get(ENV[name]), ENV[name]
            if raw in (None, ""):
                raw, where = section.get(name), f"[workbench.budgets] {name}"
            values[name] = parse_usd(raw, where)
        return cls(**values)

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in FIELDS)

    def as_dict(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in FIELDS}


def parse_usd(value: Any, where: str) -> float | None:
    """A cap from text or a number: None/""/"none" is no cap; negative or not a number is an InputError."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", NO_CAP, "off")):
        return None
    if isinstance(value, bool):
        raise InputError(f"{where}: expected an amount in USD, got {value!r}")
    try:
        number = float(str(value).strip().lstrip("$").replace(",", ""))
    except ValueError:
        raise InputError(f"{where}: expected an amount in USD, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{where}: a budget must be a non-negative amount in USD, got {value!r}")
    return number


# --- admin overrides -------------------------------------------------------------------------


def effective(engine: Engine, defaults: Budgets) -> Budgets:
    """``defaults`` with the admin's overrides from the database laid over them."""
    stored = team.all_settings(engine, prefix="budget.")
    values = defaults.as_dict()
    for name in FIELDS:
        found = stored.get(SETTING[name])
        if found is not None:
            values[name] = parse_usd(found.value, f"team setting {SETTING[name]}")
    return Budgets(**values)


def overrides(engine: Engine) -> dict[str, float | None]:
    """The caps an admin set in the app (absent: the default from secrets/environment applies)."""
    stored = team.all_settings(engine, prefix="budget.")
    return {name: parse_usd(stored[SETTING[name]].value, SETTING[name]) for name in FIELDS if SETTING[name] in stored}


def save(engine: Engine, budgets: Budgets, updated_by: str | None = None) -> None:
    """Store all three caps as the team's (admin only; callers check the role)."""
    for name in FIELDS:
        value = parse_usd(getattr(budgets, name), name)
        team.put(engine, SETTING[name], NO_CAP if value is None else repr(value), updated_by)


def reset(engine: Engine) -> None:
    """Forget the admin's caps: the defaults from secrets/environment apply again."""
    for name in FIELDS:
        team.clear(engine, SETTING[name])


# --- spend -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spend:
    usd: float = 0.0  # sum of known costs
    calls: int = 0
    unknown_calls: int = 0  # calls whose cost is unknown (not in usd)

    def __str__(self) -> str:
        extra = f" + {self.unknown_calls} call(s) of unknown cost" if self.unknown_calls else ""
        return fmt.money(self.usd) + extra


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of ``now``'s day (budgets count UTC days)."""
    now = _utc(now)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of the first of ``now``'s month."""
    return day_start(now).replace(day=1)


def spent_by_user(
    engine: Engine,
    user: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_own_key: bool = False,
) -> Spend:
    """What runs made by ``user`` (None: made without sign-in) paid for in ``[since, until)``."""
    rows = repo.spend_rows(engine, since, until)
    return _sum(r for r in rows if r[0] == user and (include_own_key or r[1] != "user"))


def spent_by_team(
    engine: Engine, since: datetime | None = None, until: datetime | None = None, include_own_key: bool = False
) -> Spend:
    """What everyone paid for in ``[since, until)`` (by default only with the server's key)."""
    rows = repo.spend_rows(engine, since, until)
    return _sum(r for r in rows if include_own_key or r[1] != "user")


def remaining(
    engine: Engine, budgets: Budgets, user: str | None, now: datetime | None = None, exclude_run: int | None = None
) -> dict[str, Any]:
    """Caps, spend so far and what is left (None: no cap), for the sidebar and for :func:`check`.

    What is left also excludes what live runs hold (:func:`reserve`; ``exclude_run``'s own hold
    aside), so sweeps started side by side cannot together spend past a cap.

    Keys: per_run_usd, user_daily_usd, user_spent_today_usd, user_unknown_calls_today,
    user_left_today_usd, team_monthly_usd, team_spent_month_usd, team_unknown_calls_month,
    team_left_month_usd.
    """
    today = spent_by_user(engine, user, day_start(now))
    month = spent_by_team(engine, month_start(now))
    held = [(who, usd) for who, kind, usd in repo.live_reservations(engine, exclude_run) if kind != "user"]
    user_held = sum(usd for who, usd in held if who == user)
    team_held = sum(usd for _, usd in held)
    return {
        "per_run_usd": budgets.per_run_usd,
        "user_daily_usd": budgets.user_daily_usd,
        "user_spent_today_usd": today.usd,
        "user_unknown_calls_today": today.unknown_calls,
        "user_left_today_usd": _left(budgets.user_daily_usd, today.usd + user_held),
        "user_held_by_live_runs_usd": user_held,
        "team_monthly_usd": budgets.team_monthly_usd,
        "team_spent_month_usd": month.usd,
        "team_unknown_calls_month": month.unknown_calls,
        "team_left_month_usd": _left(budgets.team_monthly_usd, month.usd + team_held),
        "team_held_by_live_runs_usd": team_held,
    }


# --- checks before a run ---------------------------------------------------------------------


def check(
    engine: Engine,
    budgets: Budgets,
    user: str | None,
    est_new_usd: float | None,
    max_cost_usd: float | None = None,
    *,
    new_calls: int | None = None,
    unknown_models: tuple[str, ...] | list[str] = (),
    key_kind: str = "server",
    now: datetime | None = None,
    exclude_run: int | None = None,
) -> float | None:
    """Refuse (``BudgetError``, before any call) a plan whose new calls may cost more than is left.

    ``max_cost_usd`` is the caller's own limit for this run. Returns the cap to give the runner
    (:func:`run_cap`): the smallest of the per-run cap, ``max_cost_usd`` and what is left today
    and this month; None when nothing caps the run.
    """
    if new_calls == 0:
        return run_cap(engine, budgets, user, max_cost_usd, key_kind=key_kind, now=now)
    server_paid = key_kind != "user"
    spend_capped = server_paid and (budgets.user_daily_usd is not None or budgets.team_monthly_usd is not None)
    left = remaining(engine, budgets, user, now, exclude_run) if spend_capped else {}
    caps = [budgets.per_run_usd, max_cost_usd]
    if server_paid:
        caps += [budgets.user_daily_usd, budgets.team_monthly_usd]
    if est_new_usd is None:
        if all(c is None for c in caps):
            return None
        what = f"the price of {', '.join(unknown_models)} is unknown" if unknown_models else "the cost is unknown"
        raise BudgetError(
            f"cannot check the budget: {what} (an admin can add it to the price table); nothing was called"
        )
    estimate = f"estimated {fmt.money(est_new_usd)}" + (f" for {new_calls} new calls" if new_calls else "")
    who = user or LOCAL_USER
    if max_cost_usd is not None and est_new_usd > max_cost_usd + EPSILON:
        raise BudgetError(f"{estimate} exceeds this run's limit of {fmt.money(max_cost_usd)}; nothing was called")
    if budgets.per_run_usd is not None and est_new_usd > budgets.per_run_usd + EPSILON:
        raise BudgetError(
            f"{estimate} exceeds the per-run cap of {fmt.money(budgets.per_run_usd)}; "
            "nothing was called (use fewer samples, models or repeats)"
        )
    user_left, team_left = left.get("user_left_today_usd"), left.get("team_left_month_usd")
    if user_left is not None and est_new_usd > user_left + EPSILON:
        raise BudgetError(
            f"{estimate} exceeds what is left today for {who}: {fmt.money(user_left)} of "
            f"{fmt.money(budgets.user_daily_usd)}; nothing was called"
        )
    if team_left is not None and est_new_usd > team_left + EPSILON:
        raise BudgetError(
            f"{estimate} exceeds what is left this month for the team: {fmt.money(team_left)} of "
            f"{fmt.money(budgets.team_monthly_usd)}; nothing was called"
        )
    return _smallest([budgets.per_run_usd, max_cost_usd, user_left, team_left])


def holds_estimate(budgets: Budgets, key_kind: str = "server") -> bool:
    """Whether :func:`reserve` holds a run's estimate (a day's or month's cap on the server's key)."""
    spend_capped = budgets.user_daily_usd is not None or budgets.team_monthly_usd is not None
    return spend_capped and key_kind != "user"


def reserve(
    engine: Engine,
    budgets: Budgets,
    user: str | None,
    run_id: int,
    est_new_usd: float | None,
    max_cost_usd: float | None = None,
    *,
    key_kind: str = "server",
    now: datetime | None = None,
) -> float | None:
    """Check again under the budget lock and hold ``est_new_usd`` for run ``run_id`` while it is live.

    Sweeps prepared side by side all saw the same spend; here they pass one at a time, each
    seeing what the others already hold, so together they cannot spend past the day's or the
    month's cap. Raises ``BudgetError`` (nothing called) when the estimate no longer fits; returns
    the cap for the runner. Own-key runs and instances without daily/monthly caps hold nothing.
    """
    if not holds_estimate(budgets, key_kind) or est_new_usd is None:
        return run_cap(engine, budgets, user, max_cost_usd, key_kind=key_kind, now=now)
    with write_session(engine) as session:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": BUDGET_LOCK_ID})
        cap = check(engine, budgets, user, est_new_usd, max_cost_usd, key_kind=key_kind, now=now, exclude_run=run_id)
        repo.reserve(conn, run_id, float(est_new_usd))
        session.commit()
    return cap


def check_estimate(
    engine: Engine,
    budgets: Budgets,
    user: str | None,
    est: Mapping[str, Any],
    max_cost_usd: float | None = None,
    *,
    key_kind: str = "server",
    now: datetime | None = None,
) -> float | None:
    """:func:`check` for an estimate dict (``Workbench.estimate``): names the models of unknown price."""
    unknown = [m["model"] for m in est.get("models", []) if m.get("est_cost_usd") is None]
    return check(
        engine,
        budgets,
        user,
        est.get("est_new_usd"),
        max_cost_usd,
        new_calls=est.get("new_calls"),
        unknown_models=unknown,
        key_kind=key_kind,
        now=now,
    )


def run_cap(
    engine: Engine,
    budgets: Budgets,
    user: str | None,
    max_cost_usd: float | None = None,
    *,
    key_kind: str = "server",
    now: datetime | None = None,
) -> float | None:
    """The ``max_cost_usd`` to give the runner so spending stops at the tightest cap mid-run."""
    caps = [budgets.per_run_usd, max_cost_usd]
    if key_kind != "user" and (budgets.user_daily_usd is not None or budgets.team_monthly_usd is not None):
        left = remaining(engine, budgets, user, now)
        caps += [left["user_left_today_usd"], left["team_left_month_usd"]]
    return _smallest(caps)


# --- the team's price table ------------------------------------------------------------------


def price_overrides(engine: Engine) -> str | None:
    """The admin's price table YAML (same format as the catalog file), or None."""
    return team.get(engine, PRICES_SETTING)


def parse_price_overrides(text: str, base: Catalog) -> Catalog:
    """``base`` with the entries of ``text`` laid over it; InputError naming the problem otherwise."""
    data = yamlsafe.load(text, "team price table")
    more = Catalog._from_data(data, "team price table")
    version = more.version or f"{base.version}+team-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return Catalog({**base.models, **more.models}, version)


def save_price_overrides(engine: Engine, text: str | None, base: Catalog, updated_by: str | None = None) -> Catalog:
    """Validate and store the admin's price table (empty text removes it); returns the catalog now in force."""
    if not text or not text.strip():
        team.clear(engine, PRICES_SETTING)
        return base
    catalog = parse_price_overrides(text, base)
    team.put(engine, PRICES_SETTING, text, updated_by)
    return catalog


def catalog_with_overrides(engine: Engine, base_catalog: Catalog) -> Catalog:
    """The catalog to price with: ``base_catalog`` plus the admin's price table when there is one."""
    text = price_overrides(engine)
    return parse_price_overrides(text, base_catalog) if text and text.strip() else base_catalog


# --- helpers ---------------------------------------------------------------------------------


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _left(cap: float | None, spent: float) -> float | None:
    return None if cap is None else max(cap - spent, 0.0)


def _smallest(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _sum(rows) -> Spend:
    usd = calls = unknown = 0
    for _, _, cost, n, n_unknown in rows:
        usd += cost
        calls += n
        unknown += n_unknown
    return Spend(float(usd), calls, unknown)
