"""Small statistics: percentiles of latency samples and summaries of repetitions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100); NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[min(max(rank, 1), len(sorted_values)) - 1])


def latency_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds, and the sample count."""
    ordered = sorted(samples_ns)
    result = {f"p{q}_ms": percentile(ordered, q) / 1e6 for q in (50, 90, 99)}
    result["max_ms"] = ordered[-1] / 1e6 if ordered else math.nan
    result["samples"] = float(len(ordered))
    return result


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of repetitions, and half their range as a percentage of it."""

    median: float
    low: float
    high: float
    count: int

    @property
    def plus_minus_pct(self) -> float:
        if self.count < 2 or not self.median or math.isnan(self.median):
            return 0.0
        return abs(self.high - self.low) / 2 / abs(self.median) * 100


def spread(values: Sequence[float]) -> Spread | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return None
    return Spread(statistics.median(finite), min(finite), max(finite), len(finite))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    if math.isnan(numerator) or math.isnan(denominator):
        return None
    return numerator / denominator
