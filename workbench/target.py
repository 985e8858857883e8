""" "Good enough?": a required accuracy, each cell's verdict against it, and cost at the user's volume.

A cell *meets* a required accuracy when its whole 95% interval (samples as the unit) is at or
above it, *does not* when the whole interval is below it, and is *unclear* otherwise, with roughly
how many more samples would likely settle it (``stats.samples_to_settle``). The verdict can never
disagree with the interval shown beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from workbench import formatting as fmt
from workbench.errors import InputError
from workbench.stats import samples_to_settle

YES, NO, UNCLEAR = "yes", "no", "unclear"


def check_target(target: Any, what: str = "the required accuracy") -> float | None:
    """The required accuracy as a share in [0, 1] (None: no target); anything else is a one-line error."""
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target):
        raise InputError(f"{what} must be a number between 0 and 1 (0.9 for 90%), got {target!r}")
    if not 0 <= target <= 1:
        hint = f"; did you mean {target / 100:g}?" if 1 < target <= 100 else ""
        raise InputError(f"{what} must be between 0 and 1 (0.9 for 90%), got {target:g}{hint}")
    return float(target)


def check_volume(volume: Any, what: str = "the volume") -> float | None:
    """Items per month as a non-negative number (None: not given); anything else is a one-line error."""
    if volume is None:
        return None
    if isinstance(volume, bool) or not isinstance(volume, int | float) or not math.isfinite(volume) or volume < 0:
        raise InputError(f"{what} must be a number of items a month (0 or more), got {volume!r}")
    return float(volume)


def verdict(cell: dict[str, Any], target: float) -> tuple[str, int | None]:
    """``(meets_target, more_samples)`` of one cell (a dict of ``metrics.cell_summaries``).

    ``more_samples`` is only given when the verdict is unclear: roughly how many more samples, at
    the cell's accuracy and information per sample, would put its interval on one side of the
    target. A cell without answers is unclear, and nothing short of answers settles it.
    """
    low, high = cell.get("accuracy_ci95") or [None, None]
    if low is None or high is None or cell.get("accuracy") is None:
        return UNCLEAR, None
    if low >= target:
        return YES, None
    if high < target:
        return NO, None
    samples = int(cell.get("samples") or cell.get("n") or 0)
    effective = float(cell.get("effective_n") or samples)
    return UNCLEAR, samples_to_settle(float(cell["accuracy"]), target, samples, effective)


def per_month(cost_per_1k_usd: float | None, volume: float | None) -> float | None:
    """Dollars a month at ``volume`` items a month (None when the cost or the volume is unknown)."""
    if cost_per_1k_usd is None or volume is None:
        return None
    return cost_per_1k_usd * volume / 1000.0


def annotate(cells: list[dict[str, Any]], target: float | None, volume: float | None) -> list[dict[str, Any]]:
    """The cells with ``meets_target``, ``more_samples_to_settle`` and ``cost_per_month_usd`` added (None when
    not asked for)."""
    out = []
    for cell in cells:
        meets, more = verdict(cell, target) if target is not None else (None, None)
        out.append(
            {
                **cell,
                "meets_target": meets,
                "more_samples_to_settle": more,
                "cost_per_month_usd": per_month(cell.get("cost_per_1k_usd"), volume),
            }
        )
    return out


def _month(cell: dict[str, Any], volume: float | None) -> str:
    month = per_month(cell.get("cost_per_1k_usd"), volume)
    return "" if month is None or volume is None else f" ({fmt.money(month)} a month at {volume:,.0f} items)"


def _evidence(cell: dict[str, Any]) -> str:
    """``95% interval 91.5–99.0% over 100 samples × 2 repeats``."""
    size = fmt.sample_size(cell.get("samples"), cell.get("repeats"))
    return f"95% interval {fmt.interval(cell.get('accuracy_ci95'))} over {size}"


def choose(
    cells: list[dict[str, Any]], target: float, volume: float | None, name: Callable[[dict[str, Any]], str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cell to recommend against a required accuracy, and what to say: ``(cell, fields)``.

    The cheapest cell (known cost per 1k; ties: more accurate) whose verdict is yes; when every
    cell that meets the target has an unknown cost, the most accurate of them. When none meets it,
    the most accurate cell, with how far it falls short and what would settle the unclear ones.
    ``cells`` are annotated (``annotate``) and have answers.
    """
    best = max(cells, key=lambda c: (c["accuracy"], c["cost_per_1k_usd"] is not None, -(c["cost_per_1k_usd"] or 0)))
    required = fmt.percent(target)
    passing = [c for c in cells if c["meets_target"] == YES]
    if passing:
        priced = [c for c in passing if c["cost_per_1k_usd"] is not None]
        rec = (
            min(priced, key=lambda c: (c["cost_per_1k_usd"], -c["accuracy"], -c["n"]))
            if priced
            else max(passing, key=lambda c: (c["accuracy"], c["n"]))
        )
        cost = (
            f"at {fmt.money(rec['cost_per_1k_usd'])} per 1,000 items{_month(rec, volume)}"
            if priced
            else "its cost is unknown (no price in the catalog), like every cell that meets it"
        )
        text = (
            f"{name(rec)} is the cheapest cell that meets the required {required} accuracy ({_evidence(rec)}), {cost}."
        )
        if priced:
            maybe = [
                c
                for c in cells
                if c["meets_target"] == UNCLEAR
                and c["cost_per_1k_usd"] is not None
                and c["cost_per_1k_usd"] < rec["cost_per_1k_usd"]
            ]
            if maybe:
                other = min(maybe, key=lambda c: c["cost_per_1k_usd"])
                more = other["more_samples_to_settle"]
                settle = f"about {more:,} more samples would likely tell" if more else "more samples would tell"
                text += f" {name(other)} is cheaper and might meet it too: {settle}."
        return rec, {"meets_target": YES, "shortfall": None, "summary": text}
    unclear = [c for c in cells if c["meets_target"] == UNCLEAR]
    shortfall = target - best["accuracy"]
    if best["meets_target"] == UNCLEAR and shortfall <= 0:
        reach = f"reaches {fmt.percent(best['accuracy'])} ({_evidence(best)}), but its interval still reaches below it"
    else:
        reach = (
            f"reaches {fmt.percent(best['accuracy'])} ({_evidence(best)}), {fmt.points(shortfall).lstrip('+')} short"
        )
    text = f"No cell meets the required {required} accuracy: the most accurate, {name(best)}, {reach}."
    if unclear:
        closest = max(unclear, key=lambda c: c["accuracy"])
        more = closest["more_samples_to_settle"]
        settle = f"about {more:,} more samples would likely settle it" if more else "more samples would be needed"
        others = len(unclear) - 1
        also = f" (and {others} other cell{'s' if others > 1 else ''})" if others else ""
        text += f" {name(closest)} is unclear{also}: {settle}."
    return best, {"meets_target": best["meets_target"], "shortfall": max(shortfall, 0.0), "summary": text}
