"""Median and quantile of the short lists detectors keep, without numpy's overhead.

`np.quantile` and `np.median` cost tens of microseconds a call in dispatch and checks,
however short the list: several calls a batch made them a visible part of a small
batch's fixed cost. These give the very same numbers (numpy's default linear method,
down to the last bit, which a test holds them to) for lists of finite numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(values: Sequence[float], q: float) -> float:
    """`np.quantile(values, q)`: `q` in [0, 1], `values` finite and not empty."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    below = math.floor(at)
    if below >= len(ordered) - 1:
        return float(ordered[-1])
    low, high = float(ordered[below]), float(ordered[below + 1])
    weight = at - below
    # numpy's interpolation: from the nearer end, so that it is exact at both ends.
    if weight >= 0.5:
        return high - (high - low) * (1 - weight)
    return low + (high - low) * weight


def median(values: Sequence[float]) -> float:
    """`np.median(values)`: `values` finite and not empty."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (float(ordered[middle - 1]) + float(ordered[middle])) / 2
