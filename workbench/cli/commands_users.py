"""``users``: who used this workbench, with what they made and spent (newest activity first)."""

from __future__ import annotations

import argparse
from typing import Any

from workbench import budgets as money_rules
from workbench import formatting as fmt
from workbench.access import AccessPolicy, load_secrets_file
from workbench.cli import emit
from workbench.cli.common import open_workbench
from workbench.usage import NO_SIGN_IN, users_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "users",
        help="people who used this workbench: runs, prompts, samples and spend today, this month and in total",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_users)


def cmd_users(args: argparse.Namespace) -> int:
    secrets = load_secrets_file()
    policy = AccessPolicy.from_config(secrets)
    wb = open_workbench()
    report = users_report(wb.engine, policy)
    caps = money_rules.effective(wb.engine, money_rules.Budgets.from_config(secrets))
    report["budgets"] = caps.as_dict()
    if args.json:
        emit(report)
        return 0
    rows = report["users"] + ([report["unattributed"]] if report["unattributed"] else [])
    if not report["users"]:
        mode = "sign-in is configured" if policy.auth_enabled else "this workbench runs without sign-in (local mode)"
        print(f"no signed-in users yet: {mode}.")
        if not policy.auth_enabled:
            print("Add an [auth] section to .streamlit/secrets.toml to share it (see .streamlit/secrets.toml.example).")
    if rows:
        print(
            f"{'user':<32}{'role':<8}{'runs':>6}{'prompts':>9}{'samples':>9}  {'today':<16}{'month':<16}"
            f"{'total':<16}last seen"
        )
        for r in rows:
            print(
                f"{(r['user'] or NO_SIGN_IN):<32}{(r['role'] or '-'):<8}{r['runs']:>6}{r['prompt_versions']:>9}"
                f"{r['datasets']:>9}  {_cell(r, 'today'):<16}{_cell(r, 'month'):<16}{_cell(r, 'total'):<16}"
                f"{r['last_seen'] or '-'}"
                + (f"  (own key {fmt.money(r['own_key_total_usd'])})" if r["own_key_total_usd"] else "")
            )
    limit = caps.team_monthly_usd
    month = fmt.money(report["team_month_usd"]) + (
        f" + {report['team_month_unknown_cost_calls']} unknown" if report["team_month_unknown_cost_calls"] else ""
    )
    print(
        f"team this month: {month}" + (f" of {fmt.money(limit)}" if limit is not None else "") + "; caps: per run "
        f"{_cap(caps.per_run_usd)}, per user per day {_cap(caps.user_daily_usd)}, team per month {_cap(limit)}"
    )
    return 0


def _cell(row: dict[str, Any], period: str) -> str:
    unknown = row[f"{period}_unknown_cost_calls"]
    return fmt.money(row[f"{period}_usd"]) + (f" + {unknown} unknown" if unknown else "")


def _cap(value: float | None) -> str:
    return "none" if value is None else fmt.money(value)
