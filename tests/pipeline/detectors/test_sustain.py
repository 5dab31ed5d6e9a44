"""Streaks, damping, learning weights and the shared statistics."""

from __future__ import annotations

import math

import msgspec
import pytest

from pipeline.batch import Batch
from pipeline.detectors.sustain import (
    Moments,
    Streak,
    Sustain,
    poisson_surprise,
    ramp,
    window_seconds,
)
from tests.pipeline.detectors.factory import STREAM, T0, entry


def test_streak_counts_anomalous_windows_in_a_row_and_resets():
    streak = Streak()
    for _ in range(3):
        streak = streak.advance(True)
    assert streak.windows == 3
    assert streak.advance(False).windows == 0


def test_a_single_window_is_damped_and_a_lasting_one_boosted():
    sustain = Sustain()
    assert sustain.score(0.8, 1) < 0.8
    assert sustain.score(0.8, 2) == 0.8
    assert sustain.score(0.8, 3) < sustain.score(0.8, 5) <= 0.8 + sustain.max_boost
    assert sustain.score(1.0, 50) == 1.0


def test_an_anomaly_is_not_learned_until_it_lasts():
    sustain = Sustain(adapt_after=5, adapt_weight=0.25)
    assert sustain.learning_weight(0) == 1.0
    assert sustain.learning_weight(1) == sustain.learning_weight(5) == 0.0
    assert sustain.learning_weight(6) == 0.25
    admitted = [s for s in range(1, 30) if sustain.admits(s)]
    assert admitted and all(s > 5 for s in admitted) and len(admitted) < 10


def test_moments_track_mean_and_variance_and_skip_weightless_values():
    moments = Moments()
    for value in [1.0, 3.0] * 200:
        moments = moments.learn(value, alpha=0.05)
    assert moments.mean == pytest.approx(2.0, abs=0.1)
    assert math.sqrt(moments.var) == pytest.approx(1.0, abs=0.15)
    assert moments.learn(100.0, 0.05, weight=0.0) == moments
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(moments), type=Moments) == moments


def test_ramp_starts_at_the_line_and_saturates():
    assert ramp(1.0, 1.0, 2.0) == 0.6
    assert ramp(1.5, 1.0, 2.0) == pytest.approx(0.8)
    assert ramp(9.0, 1.0, 2.0) == 1.0


def _batch(*seconds: float) -> Batch:
    return Batch(STREAM, tuple(entry("x", at_s=s, n=i) for i, s in enumerate(seconds)))


def test_window_seconds_is_the_time_since_the_last_batch_ended():
    last_end = T0 + 60 * 10**9
    assert window_seconds(_batch(70, 120), last_end, 900) == pytest.approx(60.0)
    assert window_seconds(_batch(70, 120), 0, 900) is None  # no previous batch
    assert window_seconds(_batch(10, 20), last_end, 900) is None  # late data
    assert window_seconds(_batch(5000), last_end, 900) is None  # after a silence


def test_poisson_surprise_matches_the_tail_probability():
    # P(X >= 3 | 0.5) = 1 - e^-0.5 (1 + 0.5 + 0.125)
    tail = 1 - math.exp(-0.5) * (1 + 0.5 + 0.125)
    assert poisson_surprise(3, 0.5) == pytest.approx(-math.log10(tail), rel=1e-6)
    assert poisson_surprise(2, 5.0) == 0.0
    assert poisson_surprise(1, 0.0) == 50.0
