"""Our median and quantile of short lists give numpy's numbers exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detectors.small_stats import median, quantile

QS = (0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)


def samples(seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    lists = []
    for size in [*range(1, 70), 120, 360]:
        values = rng.lognormal(0.0, 2.0, size) * rng.choice([-1.0, 1.0], size)
        if size > 3:
            values[: size // 3] = np.round(values[: size // 3])  # ties
        lists.append([float(v) for v in values])
    return lists


@pytest.mark.parametrize("seed", range(3))
def test_quantile_is_numpys_to_the_last_bit(seed):
    rng = np.random.default_rng(100 + seed)
    for values in samples(seed):
        for q in (*QS, *rng.uniform(size=5)):
            assert quantile(values, float(q)) == float(np.quantile(values, q)), (values, q)


@pytest.mark.parametrize("seed", range(3))
def test_median_is_numpys_to_the_last_bit(seed):
    for values in samples(seed):
        assert median(values) == float(np.median(values))
        deviations = [abs(v - median(values)) for v in values]
        assert median(deviations) == float(np.median(np.abs(np.asarray(values) - median(values))))


def test_integers_as_numpy_reads_them():
    assert quantile([3, 1, 2, 10], 0.9) == float(np.quantile([3, 1, 2, 10], 0.9))
    assert median([3, 1, 2, 10]) == float(np.median([3, 1, 2, 10]))
