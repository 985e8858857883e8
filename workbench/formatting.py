"""The one place figures become text: money, percentages, percentage points, p-values, intervals, sizes.

Used by the UI, the CLI, the text report and the exports alike, so one figure reads the same
everywhere. Rules:
- money: 3 significant digits under a dollar ($0.0269, $0.00685; trailing zeros dropped down to
  cents: $0.15, $0.0004), cents from a dollar up ($12.35, $1,234.00); $0 is "$0"; an unknown
  amount is "unknown", never $0;
- percentages and points: one decimal (97.0%, +10.5 pts); points carry their sign;
- p-values: two significant digits, plain decimals (p=0.041, p=0.0032), "p<0.001" below that;
- intervals: "91.5–99.0%" for accuracies, "−3.1 to +5.2 pts" for differences.
No value here is computed, only written.
"""

from __future__ import annotations

import math
from decimal import Decimal

MISSING = "–"
"""What a figure that does not exist (no answer yet, one repeat) reads as."""

MONEY_DIGITS = 3
"""Significant digits of an amount under a dollar."""


def _number(value: Decimal | float | int | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def money(value: Decimal | float | int | None, digits: int = MONEY_DIGITS) -> str:
    """An amount of US dollars: ``$0.0269``, ``$0.00685``, ``$12.35``, ``$0``; ``unknown`` when not known."""
    amount = _number(value)
    if amount is None:
        return "unknown"
    if amount == 0:
        return "$0"
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    decimals = digits - 1 - math.floor(math.log10(amount))
    text = f"{amount:.{decimals}f}"
    if float(text) >= 1:  # 0.9996 rounds up to a dollar
        return f"{sign}${amount:,.2f}"
    whole, _, cents = text.partition(".")
    return f"{sign}${whole}.{cents.rstrip('0').ljust(2, '0')}"  # exact zeros are not digits: $0.15, $0.0068


def percent(value: float | None, decimals: int = 1) -> str:
    """A share as a percentage: ``0.97`` -> ``97.0%``; missing -> ``–``."""
    share = _number(value)
    return MISSING if share is None else f"{share * 100:.{decimals}f}%"


def points(value: float | None, decimals: int = 1) -> str:
    """A difference of two shares in percentage points, signed: ``0.105`` -> ``+10.5 pts``."""
    diff = _number(value)
    if diff is None:
        return MISSING
    text = f"{abs(diff) * 100:.{decimals}f}"
    sign = "±" if float(text) == 0 else ("+" if diff > 0 else "−")
    return f"{'' if sign == '±' else sign}{text} pts"


def p_value(value: float | None) -> str:
    """``p=0.041``, ``p=0.0032``, ``p<0.001``, ``p=1``: two significant digits, never scientific notation."""
    p = _number(value)
    if p is None:
        return MISSING
    if p < 0.001:
        return "p<0.001"
    if p >= 0.995:
        return "p=1"
    decimals = 1 - math.floor(math.log10(p))
    return f"p={p:.{decimals}f}".rstrip("0").rstrip(".")


def interval(bounds: list[float | None] | tuple[float | None, float | None] | None, decimals: int = 1) -> str:
    """An accuracy interval: ``91.5–99.0%``; missing -> ``–``."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return MISSING
    low, high = float(bounds[0]), float(bounds[1])
    return f"{low * 100:.{decimals}f}–{high * 100:.{decimals}f}%"


def points_interval(bounds: list[float | None] | tuple[float | None, float | None] | None, decimals: int = 1) -> str:
    """A difference interval in points: ``−3.1 to +5.2 pts``; missing -> ``–``."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return MISSING
    low, high = points(bounds[0], decimals), points(bounds[1], decimals)
    return f"{low.removesuffix(' pts')} to {high}"


def sample_size(samples: int | None, repeats: int | None) -> str:
    """``100 samples × 2 repeats`` (``100 samples`` with one repeat; ``1 sample``)."""
    if not samples:
        return "0 samples"
    text = f"{samples:,} sample{'s' if samples != 1 else ''}"
    return text + (f" × {repeats} repeats" if repeats and repeats > 1 else "")


def count(value: int | None) -> str:
    """An integer with thousands separators; missing -> ``–``."""
    return MISSING if value is None else f"{int(value):,}"
