"""``runs``, ``show`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench import formatting as fmt
from workbench.cli import emit
from workbench.cli.common import open_workbench, run_id_arg
from workbench.storage import repository as repo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="the sweep results of a stored run")
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("report", help="classification report: intervals, per-class, confusion, paired tests")
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", metavar="DIR", help="also write per-sample results and report tables as CSV files")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="accuracy a cheaper cell may give up to be recommended (default 0.02)",
    )
    p.add_argument(
        "--target",
        type=float,
        metavar="SHARE",
        help="required accuracy (0.9 for 90%%): each cell meets it, does not, or is unclear; recommends the "
        "cheapest cell that meets it",
    )
    p.add_argument(
        "--volume", type=float, metavar="ITEMS", help="items a month: adds each cell's cost a month at that volume"
    )
    p.set_defaults(handler=cmd_report)


def cmd_runs(args: argparse.Namespace) -> int:
    wb = open_workbench()
    repo.mark_stale_runs(wb.engine)
    frame = repo.list_runs(wb.engine, limit=args.limit)
    if args.json:
        records = frame.assign(
            created_at=frame["created_at"].astype(str), finished_at=frame["finished_at"].astype(str)
        ).to_dict("records")
        for r in records:
            for key, value in r.items():  # pandas made every unknown (None) number NaN, which JSON has not
                if isinstance(value, float) and value != value:
                    r[key] = None
            r["cost_usd"] = r["cost_usd"] if r.pop("cost_known") else None
            if r["finished_at"] in ("None", "NaT"):
                r["finished_at"] = None
        emit({"runs": records})
        return 0
    if frame.empty:
        print("no runs yet: start one with `python -m workbench sweep --prompt ... --dataset ... --models ...`")
        return 0
    for r in frame.itertuples():
        paid = f"paid {fmt.money(r.spent_usd)}" + (f", reused {fmt.money(r.reused_usd)}" if r.reused_usd else "")
        print(
            f"{r.id:>5}  {r.status:<11} {str(r.created_at)[:16]}  {r.answered}/{r.calls} answered  {paid:<32}  "
            f"{r.models}"
            + (f"  efforts={r.efforts}" if r.efforts else "")
            + f"  T={r.temperatures}  {r.name}"
            + ("" if r.delivery == "standard" else f"  [{r.delivery}]")
        )
    return 0


def print_cells(result: dict[str, Any]) -> None:
    from workbench.delivery import describe

    out = sys.stdout
    out.write(
        f"run {result['run_id']}: {result['status']} · "
        + (f"{result['new_calls']:,} new calls " if result.get("reused") is not None else "")
        + f"paid {fmt.money(result['spent_usd'])} · reused answers worth {fmt.money(result.get('reused_usd'))} · "
        f"all answers {fmt.money(result['total_cost_usd'])} · "
        f"delivery {describe(result.get('delivery'), result.get('saving_usd'))}\n"
    )
    out.write(
        f"{'model':<24}{'effort':>8}{'T':>5}{'n':>7}{'accuracy':>10}{'macro-F1':>10}{'unparsed':>10}{'errors':>8}"
        f"{'reasoning':>11}{'cost':>14}{'p50 ms':>9}\n"
    )
    for c in result["cells"]:
        acc = fmt.percent(c["accuracy"])
        f1 = "-" if c["macro_f1"] is None else f"{c['macro_f1']:.3f}"
        temp = "-" if c["temperature"] is None else f"{c['temperature']:g}"
        p50 = "-" if c["latency_p50_ms"] is None else f"{c['latency_p50_ms']:.0f}"
        effort = c.get("reasoning_effort") or "-"
        out.write(
            f"{c['model']:<24}{effort:>8}{temp:>5}{c['n']:>7}{acc:>10}{f1:>10}{c['unparsed']:>10}{c['errors']:>8}"
            f"{c.get('reasoning_tokens', 0):>11}{fmt.money(c['cost_usd']):>14}{p50:>9}\n"
        )
    for note in result.get("notes", []):
        out.write(f"note: {note}\n")


def cmd_show(args: argparse.Namespace) -> int:
    wb = open_workbench()
    result = wb.summary(args.run_id)
    if args.json:
        emit(result)
    else:
        print_cells(result)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from workbench.metrics import build_report, per_sample
    from workbench.service import billing_notes
    from workbench.target import check_target, check_volume

    target, volume = check_target(args.target, "--target"), check_volume(args.volume, "--volume")
    wb = open_workbench()
    run = repo.get_run(wb.engine, args.run_id)
    from workbench.storage.results import results_frame  # pandas: only for the commands that read results

    frame, labels = results_frame(wb.engine, args.run_id)
    report = build_report(frame, labels, args.run_id, tolerance=args.tolerance, target=target, volume=volume)
    report["delivery"] = run.delivery
    report["saving_usd"] = wb.saving(run)
    report["billing_notes"] = billing_notes(wb.engine, wb.catalog, args.run_id)
    if args.csv:
        from workbench.csvsafe import write_report_csv

        write_report_csv(report, per_sample(frame), args.csv)
    if args.json:
        emit(report)
        return 0
    from workbench.reporting import format_report

    print(format_report(report))
    return 0
