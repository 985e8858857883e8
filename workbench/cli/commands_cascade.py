"""``cascade``: the cheap cell first, the strong one when the cheap one is unsure, simulated on a stored run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli import emit
from workbench.cli.common import open_workbench, positive_int, run_id_arg
from workbench.errors import InputError
from workbench.formatting import money, percent

CELL_HELP = "a model name when the run has one cell of it, else MODEL@EFFORT@TEMPERATURE (e.g. gpt-4.1-nano@-@0.7)"


def share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an accuracy between 0 and 1, got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected an accuracy between 0 and 1, got {value}")
    return number


def register(sub: argparse._SubParsersAction) -> None:
    text = "simulate a cascade (cheap cell first, strong cell when unsure) on a stored run"
    p = sub.add_parser("cascade", help=text, description=text + ", without any new call")
    p.add_argument("run_id", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--cheap", required=True, metavar="CELL", help="the cell that answers first: " + CELL_HELP)
    p.add_argument("--strong", required=True, metavar="CELL", help="the cell unsure samples go to: " + CELL_HELP)
    p.add_argument("--target", type=share, metavar="ACC", help="required accuracy (default: the strong cell's)")
    p.add_argument(
        "--tolerance",
        type=share,
        default=0.02,
        help="accuracy a cascade may give up against the strong cell when no --target is given (default 0.02)",
    )
    p.add_argument(
        "--strong-calls", type=positive_int, default=1, metavar="N", help="strong calls per escalated sample"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument(
        "--export",
        choices=("python", "typescript"),
        help="write the recommended cascade as code (cheap calls, confidence rule, escalation)",
    )
    p.add_argument("--output", metavar="FILE", help="where --export writes (default: stdout)")
    p.set_defaults(handler=cmd_cascade)


def format_cascade(report: dict[str, Any]) -> str:
    lines = [
        f"run {report['run_id']}: cascade {report['cheap']['name']} -> {report['strong']['name']} on "
        f"{report['samples']} samples ({report['left_out']} left out: not every repeat answered)"
    ]
    for s in report["signals"]:
        lines.append(f"  signal {s['signal']}: " + ("available" if s["available"] else f"unavailable: {s['reason']}"))
    for name, end in (("cheap alone", report["cheap_alone"]), ("strong alone", report["strong_alone"])):
        low, high = end["accuracy_ci95"]
        lines.append(
            f"  {name:<13} accuracy {percent(end['accuracy'])} ({percent(low)}-{percent(high)}), "
            f"{money(end['cost_per_1k_usd'])} per 1k items"
        )
    lines.append(
        f"{'signal':<10}{'calls':>6}{'threshold':>11}{'escalated':>11}{'in-sample':>11}{'held-out':>10}{'per 1k':>14}"
    )
    for c in report["selected"]:
        inside, held = c["in_sample"], c["held_out"]
        lines.append(
            f"{c['signal']:<10}{c['cheap_calls_per_sample']:>6}{c['threshold']:>11.4g}"
            f"{percent(inside['escalation_rate']):>11}{percent(inside['accuracy']):>11}{percent(held['accuracy']):>10}"
            f"{money(inside['cost_per_1k_usd']):>14}"
        )
    rec = report["recommended"]
    lines.append(("recommended: " if rec else "no recommendation: ") + report["reason"])
    if rec:
        lines.append(f"escalated rows: {', '.join(map(str, rec['escalated_rows'])) or 'none'}")
    return "\n".join(lines)


def cmd_cascade(args: argparse.Namespace) -> int:
    wb = open_workbench()
    report = wb.cascade(
        args.run_id,
        args.cheap,
        args.strong,
        target=args.target,
        tolerance=args.tolerance,
        strong_calls=args.strong_calls,
    )
    if args.export:
        code = wb.cascade_code(report, args.export)
        if args.output:
            try:
                with open(args.output, "w", encoding="utf-8") as out:
                    out.write(code)
            except OSError as exc:
                raise InputError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(code)
        return 0
    if args.json:
        emit(report)
    else:
        print(format_cascade(report))
    return 0
