from __future__ import annotations

import random
import statistics

import pytest

from alerting.backoff import MAX_ATTEMPTS, attempts_left, next_retry_delay


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 9, 10, 20])
def test_delay_stays_within_the_exponential_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
    delays = [next_retry_delay(attempt, rng=rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter: the draws cover the whole range, not a point near the ceiling.
    assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9
    assert statistics.mean(delays) == pytest.approx(ceiling / 2, rel=0.1)


def test_same_seed_same_delays() -> None:
    first = [next_retry_delay(a, rng=random.Random(7)) for a in range(1, 12)]
    second = [next_retry_delay(a, rng=random.Random(7)) for a in range(1, 12)]
    assert first == second


def test_never_below_retry_after_even_above_the_cap() -> None:
    rng = random.Random(1)
    assert all(next_retry_delay(1, 30.0, rng=rng) >= 30.0 for _ in range(100))
    assert next_retry_delay(3, 900.0, rng=rng) == 900.0


def test_retry_after_does_not_shorten_a_longer_draw() -> None:
    delays = [next_retry_delay(9, 1.0, rng=random.Random(seed)) for seed in range(50)]
    assert max(delays) > 1.0


def test_custom_base_and_cap() -> None:
    rng = random.Random(3)
    assert all(next_retry_delay(4, base_s=0.5, cap_s=3.0, rng=rng) <= 3.0 for _ in range(200))


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert 0.0 <= next_retry_delay(10_000, rng=random.Random(0)) <= 600.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        next_retry_delay(0, rng=random.Random(0))


def test_attempts_are_bounded() -> None:
    assert attempts_left(MAX_ATTEMPTS - 1)
    assert not attempts_left(MAX_ATTEMPTS)
