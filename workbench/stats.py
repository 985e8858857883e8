"""Interval and test maths behind the metrics: Wilson intervals over samples, exact McNemar, bootstrap, exact sums.

Pure numpy and the standard library (scipy is a test-only dependency: the tests use it as the
independent truth for every function here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

Z95 = 1.959963984540054
"""The two-sided 95% normal quantile, ``scipy.stats.norm.ppf(0.975)``."""

_PAIR_CHUNK = 256
"""Arrays bootstrapped per batch: memory is ``n_boot * _PAIR_CHUNK`` numbers."""

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


def sample_accuracy_interval(
    correct: ArrayLike, answers: ArrayLike, z: float = Z95
) -> tuple[float | None, float | None]:
    """95% interval of an accuracy measured over samples that may each have several answers (repeats).

    ``correct[i]`` and ``answers[i]`` are sample i's right answers and answers (the per-sample
    correct-count table). The accuracy is the mean over all answers, ``sum(correct) / sum(answers)``;
    the interval treats the *sample* as the unit: a Wilson interval at that accuracy with the
    effective sample size ``n_eff = answers / design effect``, the design effect estimated from
    the between-sample spread (the cluster-robust variance of a ratio estimator), and never more
    than the number of samples. So:

    - one answer per sample: exactly ``wilson_interval(sum(correct), n)``;
    - repeats that always agree: exactly the interval of one repeat (they add no information);
    - repeats that vary: between the two, never narrower than the number of samples allows.

    Samples with no answer are ignored; ``(None, None)`` when no sample has one. See
    ``clustered_wilson`` for many cells at once.
    """
    y = np.atleast_1d(np.asarray(correct, dtype=np.float64))
    m = np.atleast_1d(np.asarray(answers, dtype=np.float64))
    if y.shape != m.shape:
        raise ValueError("correct and answers must have one entry per sample")
    if np.any(m < 0) or np.any(y < 0) or np.any(y > m):
        raise ValueError("each sample needs 0 <= correct <= answers")
    seen = m > 0
    y, m = y[seen], m[seen]
    total = float(m.sum())
    if total == 0:
        return None, None
    p = float(y.sum()) / total
    spread = float(((y - p * m) ** 2).sum())
    low, high = clustered_wilson(
        np.array([y.sum()]), np.array([total]), np.array([len(m)]), np.array([spread]), np.array([m.max()]), z
    )
    return float(low[0]), float(high[0])


def effective_size(
    correct: ArrayLike, answers: ArrayLike, samples: ArrayLike, spread: ArrayLike, most: ArrayLike
) -> np.ndarray:
    """The effective number of independent answers of each cell: ``answers / design effect``, at most ``samples``.

    ``spread`` is ``sum_i (correct_i - p * answers_i) ** 2`` over the cell's samples (p its
    accuracy), so the cluster-robust variance of the accuracy is ``spread / answers**2`` and the
    design effect is that over the binomial ``p (1 - p) / answers``. ``most`` is the largest number
    of answers one sample has: with one answer per sample the size is the answer count exactly.
    When every sample scored alike (spread 0, e.g. accuracy 0 or 1) the size is the sample count.
    """
    y, n = np.asarray(correct, dtype=np.float64), np.asarray(answers, dtype=np.float64)
    k, s = np.asarray(samples, dtype=np.float64), np.asarray(spread, dtype=np.float64)
    p = np.divide(y, n, out=np.zeros_like(n), where=n > 0)
    binomial = n * n * p * (1.0 - p)
    size = np.divide(binomial, s, out=k.copy(), where=s > 1e-12 * np.maximum(n, 1.0) ** 2)
    size = np.minimum(size, k)
    return np.where(np.asarray(most) <= 1, n, size)


def clustered_wilson(
    correct: ArrayLike,
    answers: ArrayLike,
    samples: ArrayLike,
    spread: ArrayLike,
    most: ArrayLike,
    z: float = Z95,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample-unit Wilson intervals for many cells at once (arrays in, arrays out; NaN where no answer).

    Per cell: total right answers, total answers, samples answered, ``spread`` and ``most`` as in
    ``effective_size``. The Wilson formula is evaluated at the cell's accuracy with ``n`` replaced
    by the effective size (the usual design-effect correction of a proportion's interval).
    """
    y, n = np.asarray(correct, dtype=np.float64), np.asarray(answers, dtype=np.float64)
    size = effective_size(y, n, samples, spread, most)
    ok = (n > 0) & (size > 0)
    safe = np.where(ok, size, 1.0)
    p = np.divide(y, n, out=np.zeros_like(n), where=n > 0)
    z2 = z * z
    denom = 1.0 + z2 / safe
    centre = (p + z2 / (2 * safe)) / denom
    half = z / denom * np.sqrt(p * (1.0 - p) / safe + z2 / (4.0 * safe * safe))
    low = np.where(ok, np.maximum(0.0, centre - half), np.nan)
    high = np.where(ok, np.minimum(1.0, centre + half), np.nan)
    return low, high


def samples_to_settle(accuracy: float, target: float, samples: int, effective: float, z: float = Z95) -> int | None:
    """Roughly how many more samples would make an interval at ``accuracy`` fall wholly on one side of ``target``.

    Normal approximation: ``z * sqrt(p (1 - p) / n_eff)`` must shrink below ``|p - target|``; the
    effective size grows in proportion to the samples (``effective / samples`` per sample). None
    when the accuracy sits on the target (no number of samples settles it at that accuracy).
    """
    gap = abs(accuracy - target)
    if gap < 1e-9 or samples <= 0 or effective <= 0:
        return None
    variance = max(accuracy * (1.0 - accuracy), 1e-6)  # at 0 % or 100 % use a floor, not zero
    needed = z * z * variance / (gap * gap) * samples / effective
    return max(1, math.ceil(needed - samples))


def bootstrap_mean_ci(
    values: Sequence[ArrayLike],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of the mean of each array by resampling its entries (the samples), many arrays at once.

    A resample of ``n`` entries is fully described by how many copies of each distinct value it
    drew: a multinomial draw over the distinct values, which has exactly the distribution of
    resampling indices at a cost independent of ``n``. It is drawn as a chain of binomials (each
    value's count given the counts before it), vectorised over resamples and arrays. Per-sample
    differences of two cells take few distinct values (``-1, 0, 1`` with one repeat), so this is
    cheap. NaN for an empty array.
    """
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.full(len(values), np.nan), np.full(len(values), np.nan)
    tables: list[tuple[int, np.ndarray, np.ndarray]] = []
    for x, raw in enumerate(values):
        arr = np.asarray(raw, dtype=np.float64)
        if arr.size == 0:
            continue
        distinct, counts = np.unique(np.round(arr, 12), return_counts=True)
        if len(distinct) == 1:
            low[x] = high[x] = distinct[0]
        else:
            tables.append((x, distinct, counts))
    for start in range(0, len(tables), _PAIR_CHUNK):  # bounded memory: n_boot x chunk draws at a time
        part = tables[start : start + _PAIR_CHUNK]
        width = max(len(t[1]) for t in part)
        vals, counts = np.zeros((len(part), width)), np.zeros((len(part), width), dtype=np.int64)
        for row, (_, distinct, count) in enumerate(part):  # right-aligned: the last column is always a value
            vals[row, width - len(distinct) :], counts[row, width - len(count) :] = distinct, count
        size = counts.sum(axis=1)
        left = np.broadcast_to(size, (n_boot, len(part))).copy()
        left_count = size.copy()
        total = np.zeros((n_boot, len(part)))
        for v in range(width - 1):
            share = np.divide(counts[:, v], left_count, out=np.zeros(len(part)), where=left_count > 0)
            drawn = rng.binomial(left, share.clip(0.0, 1.0))
            total += drawn * vals[:, v]
            left -= drawn
            left_count -= counts[:, v]
        total += left * vals[:, width - 1]
        bounds = np.percentile(total / size, [tail, 100.0 - tail], axis=0)
        rows = [t[0] for t in part]
        low[rows], high[rows] = bounds[0], bounds[1]
    return low, high


def bootstrap_paired_means(
    diffs: np.ndarray,
    paired: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    memory: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of many paired means at once, all from the same resamples of the samples.

    ``diffs[s, p]`` is sample s's difference for pair p (0 where the pair did not answer it) and
    ``paired[s, p]`` whether it did. Each resample draws the samples with replacement once (counts
    per sample, ``W``) and every pair's mean is ``(W @ diffs) / (W @ paired)``: two matrix products
    instead of one draw per distinct value per pair, which is what makes runs with many cells and
    repeats fast (``bootstrap_mean_ci`` is cheaper for few pairs over many samples). At most
    ``memory`` sample counts are held at a time. NaN for a pair without paired samples.
    """
    samples, pairs = diffs.shape
    tail = (1.0 - level) / 2.0 * 100.0
    means = np.empty((n_boot, pairs))
    rows = max(1, memory // max(samples, 1))
    weights = paired.astype(np.float64)
    for start in range(0, n_boot, rows):
        k = min(rows, n_boot - start)
        drawn = rng.integers(0, samples, size=(k, samples))
        counts = np.bincount((np.arange(k)[:, None] * samples + drawn).ravel(), minlength=k * samples)
        w = counts.reshape(k, samples).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            means[start : start + k] = np.round((w @ diffs) / (w @ weights), 12)
    empty = ~paired.any(axis=0)
    means[:, empty] = 0.0
    pct = np.nanpercentile if np.isnan(means).any() else np.percentile
    low, high = pct(means, [tail, 100.0 - tail], axis=0)
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
