"""The summaries the report is made of: percentiles, medians with their spread, ratios."""

from __future__ import annotations

import math

from bench.stats import latency_summary, percentile, ratio, spread


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7], 99) == 7
    assert math.isnan(percentile([], 50))


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([3_000_000, 1_000_000, 2_000_000])
    assert summary == {"p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0, "samples": 3}


def test_spread_is_median_and_half_range_percentage() -> None:
    summary = spread([90.0, 100.0, 120.0])
    assert summary is not None
    assert (summary.median, summary.low, summary.high) == (100.0, 90.0, 120.0)
    assert summary.plus_minus_pct == 15.0
    assert spread([float("nan")]) is None


def test_ratio_refuses_missing_or_zero() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
