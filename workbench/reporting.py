"""The classification report as plain text, for the terminal (``python -m workbench report``)."""

from __future__ import annotations

from typing import Any

from workbench import formatting as fmt
from workbench.metrics import cell_name


def format_report(report: dict[str, Any]) -> str:
    cells = report["cells"]
    several = len({c["prompt_version_id"] for c in cells}) > 1
    target, volume = report.get("target"), report.get("volume_per_month")
    repeats = max((c.get("repeats") or 1 for c in cells), default=1)
    unit = f"samples × {repeats} repeats; intervals count samples" if repeats > 1 else "samples"
    lines = [f"run {report['run_id']}: {len(cells)} cells ({unit})"]
    if report.get("delivery"):
        from workbench.delivery import describe

        lines[0] += f", delivery {describe(report['delivery'], report.get('saving_usd'))}"
    if target is not None:
        lines.append(
            f"required accuracy {fmt.percent(target)}: yes = the whole 95% interval is at or above it, no = below it"
        )
        unclear = [c for c in cells if c.get("meets_target") == "unclear" and c.get("more_samples_to_settle")]
        for c in unclear:
            lines.append(
                f"  {cell_name(c, several)} is unclear: about {c['more_samples_to_settle']:,} more samples "
                "would likely settle it"
            )
    lines.append("")
    header = (
        f"{'cell':<34}{'samples':>8}{'answers':>8}{'accuracy':>10}{'95% CI':>13}{'macro-F1':>10}{'consist.':>10}"
        f"{'unparsed':>9}"
    )
    header += f"{'errors':>8}{'cost/1k':>12}{'p50 ms':>8}"
    header += (f"{'cost/month':>13}" if volume is not None else "") + (f"{'target?':>9}" if target is not None else "")
    lines += [header, "-" * len(header)]
    for c in cells:
        f1 = fmt.MISSING if c["macro_f1"] is None else f"{c['macro_f1']:.3f}"
        p50 = fmt.MISSING if c["latency_p50_ms"] is None else f"{c['latency_p50_ms']:.0f}"
        lines.append(
            f"{cell_name(c, several)[:33]:<34}{c.get('samples', c['n']):>8}{c['n']:>8}{fmt.percent(c['accuracy']):>10}"
            f"{fmt.interval(c['accuracy_ci95']):>13}{f1:>10}{fmt.percent(c['consistency']):>10}{c['unparsed']:>9}"
            f"{c['errors']:>8}{fmt.money(c['cost_per_1k_usd']):>12}{p50:>8}"
            + (f"{fmt.money(c.get('cost_per_month_usd')):>13}" if volume is not None else "")
            + (f"{c.get('meets_target') or fmt.MISSING:>9}" if target is not None else "")
        )
    rec = report.get("recommendation")
    if rec:
        lines += ["", f"recommendation: {rec['summary']}"]
    if report.get("pairs"):
        lines += ["", "paired comparisons (over samples both answered; with repeats, a sample's majority answer):"]
        for pair in (p for p in report["pairs"] if p["n"]):
            lines.append(
                f"  {cell_name(pair['a'], several)} vs {cell_name(pair['b'], several)}: {pair['n']} samples, "
                f"only A right {pair['a_only_correct']}, only B right {pair['b_only_correct']}, "
                f"McNemar {fmt.p_value(pair['mcnemar_p'])}, diff {fmt.points(pair['diff'])} "
                f"(95% CI {fmt.points_interval(pair['diff_ci95'])})"
            )
    for c in cells:
        confusion = c["confusion"]
        lines += ["", f"confusion — {cell_name(c, several)} (rows gold, columns answer):"]
        width = max(8, *(len(x) + 1 for x in confusion["columns"]))
        lines.append(" " * width + "".join(f"{col:>{width}}" for col in confusion["columns"]))
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=True):
            lines.append(f"{label:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += [f"note: {note}" for note in report.get("billing_notes", [])]
    return "\n".join(lines)
