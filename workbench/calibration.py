"""Does a confidence mean what it says? Reliability bins, expected calibration error, AUROC, accuracy at coverage.

Pure numpy over two arrays of one value per *sample*: ``confidence`` in [0, 1] and ``correct``
(bool). Checked against scikit-learn in the tests (``calibration_curve``, ``roc_auc_score``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

BINS = 10
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _arrays(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if conf.shape != right.shape or conf.ndim != 1:
        raise ValueError("confidence and correct must be 1-d arrays of the same length")
    return conf, right


def reliability(confidence: ArrayLike, correct: ArrayLike, bins: int = BINS) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1], each holding (low, high] (the first [0, high]), as
    ``sklearn.calibration.calibration_curve`` bins: the non-empty ones with their range, count, mean
    confidence and accuracy. A confidence of exactly 0.5 is in the bin that ends at 0.5."""
    conf, right = _arrays(confidence, correct)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right.astype(float), minlength=bins)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "n": int(count[b]),
            "confidence": float(conf_sum[b] / count[b]),
            "accuracy": float(right_sum[b] / count[b]),
        }
        for b in range(bins)
        if count[b]
    ]


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, bins: int = BINS) -> float | None:
    """ECE: the count-weighted mean gap between accuracy and mean confidence over the reliability bins."""
    conf, _ = _arrays(confidence, correct)
    if not len(conf):
        return None
    table = reliability(confidence, correct, bins)
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in table) / len(conf))


def auroc(confidence: ArrayLike, correct: ArrayLike) -> float | None:
    """How well confidence ranks right answers above wrong ones: P(conf right > conf wrong) + P(tie) / 2.

    The Mann-Whitney form with average ranks for ties (equal to ``roc_auc_score(correct, confidence)``).
    None when every answer is right or every answer is wrong (nothing to rank).
    """
    conf, right = _arrays(confidence, correct)
    n_pos = int(right.sum())
    n_neg = len(right) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(conf, kind="mergesort")
    ranked = conf[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    average = (starts + ends + 1) / 2.0  # 1-based ranks start+1..end, averaged
    ranks = np.empty(len(conf))
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[right].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy_at_coverage(
    confidence: ArrayLike, correct: ArrayLike, coverages: tuple[float, ...] = COVERAGES
) -> list[dict[str, Any]]:
    """Accuracy over the most confident ``coverage`` share of samples (ceil(coverage x n), at least one).

    Samples are ordered by confidence, highest first; equal confidences keep their sample order.
    """
    conf, right = _arrays(confidence, correct)
    if not len(conf):
        return []
    order = np.argsort(-conf, kind="stable")
    running = np.cumsum(right[order])
    out = []
    for coverage in coverages:
        keep = max(1, math.ceil(coverage * len(conf) - 1e-9))
        out.append({"coverage": coverage, "n": keep, "accuracy": float(running[keep - 1] / keep)})
    return out


def calibration(confidence: ArrayLike, correct: ArrayLike, bins: int = BINS) -> dict[str, Any]:
    """Everything above for one signal."""
    return {
        "bins": reliability(confidence, correct, bins),
        "ece": expected_calibration_error(confidence, correct, bins),
        "auroc": auroc(confidence, correct),
        "coverage": accuracy_at_coverage(confidence, correct),
    }
