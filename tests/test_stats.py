"""Accuracy intervals with the sample as the unit: against statsmodels, a cluster bootstrap and simulation."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from workbench.stats import (
    Z95,
    clustered_wilson,
    effective_size,
    sample_accuracy_interval,
    samples_to_settle,
    wilson_interval,
)


def clustered(rng: np.random.Generator, samples: int, repeats: int, a: float, b: float) -> tuple[np.ndarray, ...]:
    """Per-sample right counts: each sample has its own chance of being answered right (Beta(a, b))."""
    chance = rng.beta(a, b, samples)
    answers = np.full(samples, repeats)
    return rng.binomial(answers, chance), answers


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 5), (5, 5), (61, 70), (97, 100)])
def test_one_repeat_is_exactly_wilson(k: int, n: int) -> None:
    correct = np.array([1] * k + [0] * (n - k))
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert sample_accuracy_interval(correct, np.ones(n)) == pytest.approx((low, high), abs=1e-12)
    assert sample_accuracy_interval(correct, np.ones(n)) == wilson_interval(k, n)


def test_design_effect_is_statsmodels_cluster_robust_variance() -> None:
    """The spread behind the effective size is statsmodels' cluster-robust variance of the mean (clusters = samples)."""
    rng = np.random.default_rng(3)
    right, answers = clustered(rng, 40, 3, 0.6, 0.3)
    answers[::7] = 2  # uneven repeats (an error dropped an answer)
    right = np.minimum(right, answers)
    y = np.concatenate([[1.0] * r + [0.0] * (m - r) for r, m in zip(right, answers, strict=True)])
    groups = np.repeat(np.arange(40), answers)
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    p = right.sum() / answers.sum()
    spread = ((right - p * answers) ** 2).sum()
    assert fit.params[0] == pytest.approx(p)
    assert fit.bse[0] ** 2 == pytest.approx(spread / answers.sum() ** 2, rel=1e-9)
    # effective size = binomial variance / cluster variance, before the cap at the number of samples
    size = effective_size(right.sum(), answers.sum(), 10**9, spread, answers.max())
    assert size == pytest.approx(p * (1 - p) / answers.sum() / fit.bse[0] ** 2 * answers.sum(), rel=1e-9)


def test_identical_repeats_equal_one_repeat_and_varied_repeats_are_never_narrower_than_the_samples() -> None:
    one = np.array([1] * 61 + [0] * 9)
    assert sample_accuracy_interval(one * 3, np.full(70, 3)) == pytest.approx(wilson_interval(61, 70), abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(50):
        right, answers = clustered(rng, 70, 3, 2.0, 1.0)
        low, high = sample_accuracy_interval(right, answers)
        p = right.sum() / answers.sum()
        floor = clustered_wilson([p * 70], [70], [70], [0.0], [1])  # Wilson at the same accuracy with n = samples
        assert high - low >= floor[1][0] - floor[0][0] - 1e-12
        naive_low, naive_high = wilson_interval(int(right.sum()), int(answers.sum()))
        assert high - low > naive_high - naive_low  # repeats never shrink it to the per-call width


def cluster_bootstrap(right: np.ndarray, answers: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    pick = rng.integers(0, len(right), size=(20000, len(right)))
    boot = right[pick].sum(axis=1) / answers[pick].sum(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(low), float(high)


def test_against_a_cluster_bootstrap_over_samples() -> None:
    rng = np.random.default_rng(11)
    right, answers = clustered(rng, 300, 4, 0.03, 0.01)  # repeats almost always agree (temperature 0)
    low, high = sample_accuracy_interval(right, answers)
    b_low, b_high = cluster_bootstrap(right, answers, rng)
    assert high - low == pytest.approx(b_high - b_low, rel=0.1)
    assert low == pytest.approx(b_low, abs=0.01) and high == pytest.approx(b_high, abs=0.01)
    # repeats that vary carry more than one answer's information; the interval does not take that credit
    right, answers = clustered(rng, 300, 4, 3.0, 1.0)
    low, high = sample_accuracy_interval(right, answers)
    b_low, b_high = cluster_bootstrap(right, answers, rng)
    assert high - low > b_high - b_low


def coverage(samples: int, repeats: int, a: float, b: float, per_call: bool = False, sims: int = 3000) -> float:
    """Share of simulated runs whose 95% interval holds the true accuracy a / (a + b)."""
    rng = np.random.default_rng(samples * 100 + repeats)
    chance = rng.beta(a, b, size=(sims, samples))
    answers = np.full((sims, samples), repeats)
    answers[rng.random((sims, samples)) < 0.1] -= 1  # some answers lost to errors
    right = rng.binomial(answers, chance)
    n, c = answers.sum(axis=1), right.sum(axis=1)
    spread = ((right - (c / n)[:, None] * answers) ** 2).sum(axis=1)
    if per_call:  # the old way: every answer an independent trial
        low, high = clustered_wilson(c, n, n, spread, np.ones(sims))
    else:
        low, high = clustered_wilson(c, n, (answers > 0).sum(axis=1), spread, answers.max(axis=1))
    truth = a / (a + b)
    return float(((low <= truth) & (truth <= high)).mean())


@pytest.mark.parametrize(
    ("samples", "repeats", "a", "b"), [(60, 3, 0.2, 0.05), (100, 2, 0.08, 0.02), (40, 4, 0.1, 0.1)]
)
def test_a_95_interval_covers_95_percent_on_clustered_data(samples: int, repeats: int, a: float, b: float) -> None:
    assert 0.935 <= coverage(samples, repeats, a, b) <= 0.975
    assert coverage(samples, repeats, a, b, per_call=True) < 0.9  # counting calls as samples: overstated


def test_bad_tables_are_refused() -> None:
    assert sample_accuracy_interval([], []) == (None, None)
    assert sample_accuracy_interval([0, 0], [0, 0]) == (None, None)
    with pytest.raises(ValueError, match="one entry per sample"):
        sample_accuracy_interval([1, 2], [3])
    with pytest.raises(ValueError, match="correct <= answers"):
        sample_accuracy_interval([3], [2])


def test_samples_to_settle() -> None:
    # 85% on 100 samples against a 90% target: ~ z^2 p(1-p)/gap^2 = 196 samples in all
    more = samples_to_settle(0.85, 0.90, 100, 100.0)
    assert more == pytest.approx(Z95**2 * 0.85 * 0.15 / 0.05**2 - 100, abs=1)
    assert samples_to_settle(0.9, 0.9, 100, 100.0) is None
    # repeats that carry less information per sample need more samples
    assert samples_to_settle(0.85, 0.90, 100, 50.0) > more
    _, high = wilson_interval(int(0.85 * (100 + more)), 100 + more)
    assert high == pytest.approx(0.90, abs=0.01)  # at that size the interval just reaches the target


def test_shared_resamples_equal_index_resampling_in_distribution() -> None:
    """Many pairs at once from shared resamples: the same bootstrap over samples, pair by pair."""
    from workbench.stats import bootstrap_mean_ci, bootstrap_paired_means

    rng = np.random.default_rng(4)
    samples, pairs = 150, 6
    diffs = (rng.integers(0, 4, (samples, pairs)) - rng.integers(0, 4, (samples, pairs))) / 3
    paired = rng.random((samples, pairs)) < 0.9
    paired[:, 5] = False  # a pair that never answered the same sample
    diffs[~paired] = 0.0
    low, high = bootstrap_paired_means(diffs, paired, np.random.default_rng(1), n_boot=20000, memory=100_000)
    alone = bootstrap_mean_ci([diffs[paired[:, p], p] for p in range(pairs)], np.random.default_rng(2), 20000)
    for p in range(5):
        assert (low[p], high[p]) == pytest.approx((alone[0][p], alone[1][p]), abs=0.02)
        assert low[p] < diffs[paired[:, p], p].mean() < high[p]
    assert np.isnan(low[5]) and np.isnan(high[5])
    again = bootstrap_paired_means(diffs, paired, np.random.default_rng(1), n_boot=20000, memory=100_000)
    np.testing.assert_array_equal(again[0], low)
    same = np.ones((10, 1)) * 0.5
    assert bootstrap_paired_means(same, np.ones((10, 1), dtype=bool), rng, 500) == (0.5, 0.5)
