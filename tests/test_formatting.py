"""The one formatter: money, percentages, points, p-values, intervals, sizes."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from workbench import formatting as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "unknown"),
        (math.nan, "unknown"),
        (0, "$0"),
        (Decimal("0"), "$0"),
        (0.0269, "$0.0269"),
        (0.006845, "$0.00685"),  # the column: 3 significant digits each
        (0.00677, "$0.00677"),
        (0.1346, "$0.135"),
        (0.15, "$0.15"),
        (0.5, "$0.50"),
        (0.0068, "$0.0068"),
        (Decimal("0.00009"), "$0.00009"),
        (0.0000004, "$0.0000004"),
        (0.99996, "$1.00"),
        (1, "$1.00"),
        (12.5, "$12.50"),
        (1234.5678, "$1,234.57"),
        (-0.0123, "-$0.0123"),
    ],
)
def test_money(value: object, text: str) -> None:
    assert fmt.money(value) == text  # type: ignore[arg-type]


def test_percent_points_and_intervals() -> None:
    assert fmt.percent(0.97) == "97.0%" and fmt.percent(None) == "–" and fmt.percent(1) == "100.0%"
    assert fmt.points(0.105) == "+10.5 pts" and fmt.points(-0.031) == "−3.1 pts" and fmt.points(0.0) == "0.0 pts"
    assert fmt.points(-0.00001) == "0.0 pts"  # no "−0.0"
    assert fmt.interval([0.915, 0.99]) == "91.5–99.0%"
    assert fmt.interval([None, None]) == "–" and fmt.interval(None) == "–"
    assert fmt.points_interval([0.105, 0.22]) == "+10.5 to +22.0 pts"
    assert fmt.points_interval([-0.031, 0.052]) == "−3.1 to +5.2 pts"


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (4.43e-7, "p<0.001"),
        (0.0009, "p<0.001"),
        (0.001, "p=0.001"),
        (0.0032, "p=0.0032"),
        (0.041, "p=0.041"),
        (0.41, "p=0.41"),
        (0.05, "p=0.05"),
        (0.996, "p=1"),
        (1.0, "p=1"),
        (None, "–"),
    ],
)
def test_p_values_never_scientific(p: float | None, text: str) -> None:
    assert fmt.p_value(p) == text


def test_sample_size() -> None:
    assert fmt.sample_size(100, 2) == "100 samples × 2 repeats"
    assert fmt.sample_size(70, 1) == "70 samples"
    assert fmt.sample_size(1, 1) == "1 sample"
    assert fmt.sample_size(0, 0) == "0 samples"
    assert fmt.count(12345) == "12,345" and fmt.count(None) == "–"
