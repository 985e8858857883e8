"""Interval and test maths behind the metrics: Wilson intervals, exact McNemar, paired bootstrap, exact sums.

Pure numpy and the standard library (scipy is a test-only dependency: the tests use it as the
independent truth for every function here).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

Z95 = 1.959963984540054
"""The two-sided 95% normal quantile, ``scipy.stats.norm.ppf(0.975)``."""

_PAIR_CHUNK = 256
"""Pairs bootstrapped per batch: memory is ``n_boot * _PAIR_CHUNK`` integers."""

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
    a_only: ArrayLike,
    b_only: ArrayLike,
    n: ArrayLike,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of ``accuracy(a) - accuracy(b)`` by resampling paired items, for many pairs at once.

    Each paired item contributes +1 (only a right), -1 (only b right) or 0 to the difference, so a
    bootstrap resample of ``n`` items is fully described by how many of each it drew: a multinomial
    draw, which has exactly the distribution of resampling item indices at a cost independent of
    ``n``. It is drawn as two binomials (``x_a ~ Bin(n, p_a)``, then ``x_b ~ Bin(n - x_a, p_b / (1 - p_a))``),
    vectorised over resamples and pairs. Arrays in, arrays out (NaN where ``n == 0``).
    """
    a = np.atleast_1d(np.asarray(a_only, dtype=np.int64))
    b = np.atleast_1d(np.asarray(b_only, dtype=np.int64))
    size = np.atleast_1d(np.asarray(n, dtype=np.int64))
    safe = np.maximum(size, 1)
    p_a = a / safe
    rest = 1.0 - p_a
    p_b = np.divide(b / safe, rest, out=np.zeros(len(size)), where=rest > 0).clip(0.0, 1.0)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.full(len(size), np.nan), np.full(len(size), np.nan)
    for start in range(0, len(size), _PAIR_CHUNK):  # bounded memory: n_boot x chunk draws at a time
        part = slice(start, start + _PAIR_CHUNK)
        x_a = rng.binomial(size[part], p_a[part], size=(n_boot, len(size[part])))
        x_b = rng.binomial(size[part] - x_a, p_b[part])
        low[part], high[part] = np.percentile((x_a - x_b) / safe[part], [tail, 100.0 - tail], axis=0)
    empty = size <= 0
    low[empty], high[empty] = np.nan, np.nan
    return low, high


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
