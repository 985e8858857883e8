"""Interval and test maths behind the metrics: Wilson intervals, exact McNemar, paired bootstrap, exact sums.

Pure numpy and the standard library (scipy is a test-only dependency: the tests use it as the
independent truth for every function here).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
"""The two-sided 95% normal quantile, ``scipy.stats.norm.ppf(0.975)``."""

_EXACT_LIMIT = 1000
"""Up to this many discordant pairs the McNemar tail is summed in exact integers; above, in log space."""


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for ``correct`` successes out of ``n``; ``(None, None)`` when ``n == 0``.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and behaves at 0% and
    100% accuracy, which small classification sets hit often.
    """
    if n <= 0:
        return None, None
    p = correct / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: ``min(1, 2 P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``.

    ``a_only`` and ``b_only`` are the discordant counts (items only one side got right). With no
    discordant pair there is no evidence of a difference: p = 1.
    """
    m = int(a_only) + int(b_only)
    if m == 0:
        return 1.0
    s = min(int(a_only), int(b_only))
    if m <= _EXACT_LIMIT:
        tail, term = 0, 1
        for k in range(s + 1):  # C(m, k) built incrementally, exact integers
            tail += term
            term = term * (m - k) // (k + 1)
        return min(1.0, 2 * tail / 2**m)
    i = np.arange(1, s + 1, dtype=float)
    log_terms = np.concatenate(([0.0], np.cumsum(np.log(m - i + 1) - np.log(i))))
    top = log_terms.max()
    log_tail = top + math.log(np.exp(log_terms - top).sum()) - m * math.log(2.0)
    return min(1.0, 2.0 * math.exp(log_tail))


def paired_bootstrap_ci(
    a_only: int, b_only: int, n: int, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> tuple[float | None, float | None]:
    """Percentile interval of ``accuracy(a) - accuracy(b)`` by resampling the ``n`` paired items.

    Each paired item contributes +1 (only a right), -1 (only b right) or 0 to the difference, so a
    bootstrap resample of ``n`` items is fully described by how many of each it drew: one
    multinomial draw per resample has exactly the distribution of resampling item indices, at a
    cost independent of ``n`` (``n_boot`` draws instead of ``n_boot * n`` indices).
    """
    if n <= 0:
        return None, None
    counts = rng.multinomial(n, [a_only / n, b_only / n, (n - a_only - b_only) / n], size=n_boot)
    diffs = (counts[:, 0] - counts[:, 1]) / n
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(diffs, [tail, 100.0 - tail])
    return float(low), float(high)


def exact_sums(values: pd.Series, groups: pd.Series) -> dict[object, Decimal]:
    """Per group, the exact decimal sum of float ``values`` (NaN skipped), each taken as ``Decimal(repr(x))``.

    Costs are stored as floats whose ``repr`` is the intended decimal (``0.000125``); summing the
    reprs as decimals avoids ``0.1 + 0.2 == 0.30000000000000004``. Costs repeat a lot, so the
    conversion runs once per distinct value and is multiplied by its count, never once per row.
    """
    known = values.notna()
    counted = pd.DataFrame({"g": groups[known].to_numpy(), "v": values[known].to_numpy(dtype=float)})
    counts = counted.groupby(["g", "v"], sort=False, dropna=False).size()
    decimals = {v: Decimal(repr(float(v))) for v in counts.index.get_level_values("v").unique()}
    totals: dict[object, Decimal] = {}
    for (group, value), count in counts.items():
        totals[group] = totals.get(group, Decimal(0)) + decimals[value] * int(count)
    return totals
