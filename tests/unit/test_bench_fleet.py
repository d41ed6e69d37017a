"""The many-Jobs benchmark's arithmetic (bench/fleet.py): the pass-time quantiles read from the
operator's histogram, the memory line, the steps. A misread bucket or a wrong slope would put a
wrong figure in bench/results.md and in the chart's sizing."""

from __future__ import annotations

import math

import pytest
from bench.fleet import fit, quantile, steps

INF = float("inf")
BEFORE = [(0.1, 0.0), (0.5, 0.0), (1.0, 0.0), (INF, 0.0)]


@pytest.mark.parametrize(
    ("after", "q", "expected"),
    [
        # 10 passes all under 0.1 s: the median interpolated in the first bucket.
        ([(0.1, 10.0), (0.5, 10.0), (1.0, 10.0), (INF, 10.0)], 0.5, 0.05),
        # 4 under 0.1, 6 between 0.1 and 0.5: the median is the 1st of 6 in (0.1, 0.5].
        ([(0.1, 4.0), (0.5, 10.0), (1.0, 10.0), (INF, 10.0)], 0.5, 0.1 + 0.4 * (1 / 6)),
        # The p99 of 100 passes with one over a second: the last finite bound.
        ([(0.1, 90.0), (0.5, 98.0), (1.0, 99.0), (INF, 100.0)], 0.99, 1.0),
        ([(0.1, 90.0), (0.5, 98.0), (1.0, 99.0), (INF, 100.0)], 0.995, 1.0),
    ],
)
def test_quantiles_interpolate_within_their_bucket(
    after: list[tuple[float, float]], q: float, expected: float
) -> None:
    assert quantile(q, BEFORE, after) == pytest.approx(expected)


def test_quantiles_are_of_the_passes_between_the_readings() -> None:
    before = [(0.1, 100.0), (0.5, 100.0), (1.0, 100.0), (INF, 100.0)]
    after = [(0.1, 100.0), (0.5, 100.0), (1.0, 110.0), (INF, 110.0)]
    assert quantile(0.5, before, after) == pytest.approx(0.75)
    assert math.isnan(quantile(0.5, before, before))


def test_the_memory_line_is_least_squares() -> None:
    # 10 MiB more per 1,000 executions over 90 MiB: 10.24 KiB each.
    intercept, slope = fit([(1000, 100.0), (5000, 140.0), (10000, 190.0), (20000, 290.0)])
    assert slope * 1024 == pytest.approx(10.24)
    assert intercept == pytest.approx(90.0)
    # Off the line: the fit's slope is between the points', not the last step's.
    _, bent = fit([(1000, 100.0), (5000, 150.0), (10000, 190.0)])
    assert 0.008 < bent < 0.0125


@pytest.mark.parametrize(
    ("jobs", "expected"), [(20, [1, 5, 10, 20]), (5, [1, 2, 5]), (2, [1, 2]), (1, [1])]
)
def test_memory_is_read_at_one_a_quarter_half_and_all_jobs(jobs: int, expected: list[int]) -> None:
    assert steps(jobs) == expected
