"""Percentiles as the benchmarks and the console report them: the nearest rank, the smallest
value with at least that share of the values at or below it, so that each one was measured."""

from __future__ import annotations

import math


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max, rounded to 0.1; all 0 when there are none."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "p50": round(percentile(values, 0.50), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
    }
