"""The classification report as plain text, for the terminal (``python -m workbench report``)."""

from __future__ import annotations

from typing import Any

from workbench.metrics import cell_name
from workbench.pricing import format_usd


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ci(interval: list[float | None] | None) -> str:
    if not interval or interval[0] is None:
        return "-"
    return f"{interval[0] * 100:.1f}–{interval[1] * 100:.1f}%"


def format_report(report: dict[str, Any]) -> str:
    cells = report["cells"]
    several = len({c["prompt_version_id"] for c in cells}) > 1
    lines = [f"run {report['run_id']}: {len(cells)} cells", ""]
    header = f"{'cell':<34}{'n':>6}{'accuracy':>10}{'95% CI':>15}{'macro-F1':>10}{'consist.':>10}{'unparsed':>9}"
    lines += [header + f"{'errors':>8}{'cost/1k':>12}{'p50 ms':>8}", "-" * (len(header) + 28)]
    for c in cells:
        f1 = "-" if c["macro_f1"] is None else f"{c['macro_f1']:.3f}"
        p50 = "-" if c["latency_p50_ms"] is None else f"{c['latency_p50_ms']:.0f}"
        lines.append(
            f"{cell_name(c, several)[:33]:<34}{c['n']:>6}{_pct(c['accuracy']):>10}{_ci(c['accuracy_ci95']):>15}"
            f"{f1:>10}{_pct(c['consistency']):>10}{c['unparsed']:>9}{c['errors']:>8}"
            f"{format_usd(c['cost_per_1k_usd']):>12}{p50:>8}"
        )
    rec = report.get("recommendation")
    if rec:
        lines += ["", f"recommendation: {cell_name(rec, several)} — {rec['verdict']}", f"  {rec['reason']}"]
    if report.get("pairs"):
        lines += ["", "paired comparisons (same sample and repeat):"]
        for pair in (p for p in report["pairs"] if p["n"]):
            diff = "-" if pair["diff"] is None else f"{pair['diff'] * 100:+.1f} pts"
            lines.append(
                f"  {cell_name(pair['a'], several)} vs {cell_name(pair['b'], several)}: n={pair['n']}, "
                f"only A right {pair['a_only_correct']}, only B right {pair['b_only_correct']}, "
                f"McNemar p={pair['mcnemar_p']:.3g}, diff {diff} (95% CI {_ci(pair['diff_ci95'])})"
            )
    for c in cells:
        confusion = c["confusion"]
        lines += ["", f"confusion — {cell_name(c, several)} (rows gold, columns answer):"]
        width = max(8, *(len(x) + 1 for x in confusion["columns"]))
        lines.append(" " * width + "".join(f"{col:>{width}}" for col in confusion["columns"]))
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=True):
            lines.append(f"{label:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
