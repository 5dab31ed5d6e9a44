"""One numeric series' baseline and the tests for the shapes failures take.

A series gets one observation per batch (the batch's median of its values), at the
batch's time. Its state is a few dozen numbers, whatever its rate:
- a ring of recent observations, for a robust level (median) and spread (MAD);
- per hour of day, a level and spread learned by stochastic quantile steps, used once
  the series has been seen for `seasonal_days` days and the hour's own spread is
  tighter than the ring's (a daily cycle explains the values);
- two CUSUM sums over the robust residual (level shifts up and down);
- a short and a long exponentially weighted mean (slow drifts);
- the usual size of residuals (a running high quantile), so that a series that is
  always jumpy is held to its own standard;
- the usual time between observations and its variation: a number seen on a steady
  cadence (a gauge written every five minutes, a template in every batch) is a metric;
  one in occasional lines is a detail of those events.

After a signal the series rests for `rest_s` seconds: a shift is reported once, and the
baseline learns the new level meanwhile.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import msgspec

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


class SeriesStat(msgspec.Struct, array_like=True):
    """The state of one series (mutable only inside `observe`, on a private copy)."""

    unit: str = ""
    n: int = 0
    first_ns: int = 0
    last_ns: int = 0
    ring: list[float] = []
    hour_level: list[float] = []  # 24 entries once started
    hour_spread: list[float] = []
    hour_n: list[int] = []
    cusum_up: float = 0.0
    cusum_down: float = 0.0
    short: float = 0.0
    long: float = 0.0
    long_dev: float = 0.0
    tail: float = 3.0  # running high quantile of |residual|
    rest_until_ns: int = 0
    since_ns: int = 0  # when the residual last left the usual range (0: it is inside)
    last_value: float = 0.0
    rises: float = 0.0  # shares of observations above and below the one before
    falls: float = 0.0
    gap_s: float = 0.0  # the usual time between observations, and how much it varies
    gap_dev_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Signal:
    """A series left its usual range: which shape, how far (robust z), since when."""

    shape: str  # "spike", "shift" or "drift"
    value: float
    usual: float  # the level it was compared with
    spread: float  # the usual spread (robust sigma)
    z: float
    since_ns: int
    extreme: bool  # far enough that a single value may page
    steady: bool  # observed on a steady cadence: a metric, not an occasional event's detail
    counter: bool  # it only ever grows (a running total): its resets are not anomalies


@dataclass(frozen=True, slots=True)
class SeriesPolicy:
    """How a series is judged; the defaults are tuned on half of the NAB corpus."""

    ring: int = 96
    warmup: int = 96
    spike_z: float = 6.0
    tail_ratio: float = 3.0  # a spike is also this far past the series' usual residuals
    extreme_z: float = 10.0
    tail_q: float = 0.99
    tail_step: float = 0.05
    cusum_k: float = 0.5
    cusum_h: float = 30.0
    cusum_clip: float = 4.0
    short_alpha: float = 0.1
    long_alpha: float = 0.005
    drift_z: float = 6.0
    clip_z: float = 3.0  # values learned are held within this many spreads
    seasonal_days: float = 3.0
    hour_step: float = 0.1
    rest_s: float = 48 * 3600.0
    rel_floor: float = 0.05  # the spread is at least this share of the level
    steady_gap_share: float = 0.25  # cadence steady: gaps vary less than this share
    gap_alpha: float = 0.05


def observe(
    stat: SeriesStat, at_ns: int, value: float, policy: SeriesPolicy, rising_only: bool = False
) -> tuple[Signal | None, SeriesStat]:
    """The signal this observation raises (None: usual) and the series' new state.

    With `rising_only`, a fall is no signal (faster answers, fewer failures)."""
    # A private copy: the lists `_learn` changes in place too (not the caller's state).
    s = msgspec.structs.replace(stat, ring=list(stat.ring), hour_level=list(stat.hour_level),
                                hour_spread=list(stat.hour_spread), hour_n=list(stat.hour_n))
    if s.n == 0:
        s.first_ns, s.short, s.long = at_ns, value, value
        s.hour_level, s.hour_spread, s.hour_n = [0.0] * 24, [0.0] * 24, [0] * 24
    signal = None
    level, spread = _baseline(s, at_ns, policy)
    z = (value - level) / spread if s.n >= policy.warmup else 0.0
    if s.n >= policy.warmup:
        signal = _test(s, at_ns, value, (level, spread, z), policy, rising_only)
    _learn(s, at_ns, value, level, spread, z, policy)
    return signal, s


def _baseline(s: SeriesStat, at_ns: int, policy: SeriesPolicy) -> tuple[float, float]:
    """The recent ring's level and spread, or the hour of day's once the hours are
    learned and the hour's spread is the tighter (a daily cycle explains the values)."""
    if not s.ring:
        return 0.0, 1.0
    level = statistics.median(s.ring)
    spread = 1.4826 * statistics.median(abs(v - level) for v in s.ring)
    hour = _hour(at_ns)
    seasonal = (at_ns - s.first_ns) >= policy.seasonal_days * DAY_NS and s.hour_n[hour] >= 3
    if seasonal and s.hour_spread[hour] <= spread:
        level, spread = s.hour_level[hour], s.hour_spread[hour]
    floor = max(0.25 * s.long_dev, policy.rel_floor * abs(level), 1e-9)
    return level, max(spread, floor)


def _test(
    s: SeriesStat,
    at_ns: int,
    value: float,
    judged: tuple[float, float, float],  # level, spread, z
    policy: SeriesPolicy,
    rising_only: bool,
) -> Signal | None:
    level, spread, z = judged
    clipped = max(-policy.cusum_clip, min(policy.cusum_clip, z))
    s.cusum_up = max(0.0, s.cusum_up + clipped - policy.cusum_k)
    s.cusum_down = max(0.0, s.cusum_down - clipped - policy.cusum_k)
    outside = abs(z) >= policy.clip_z
    if outside and not s.since_ns:
        s.since_ns = at_ns
    elif not outside and s.cusum_up == 0 and s.cusum_down == 0:
        s.since_ns = 0
    if at_ns < s.rest_until_ns:
        return None
    drift = (s.short - s.long) / max(s.long_dev, spread * 0.5, 1e-9)
    falls = 0.0 if rising_only else 1.0  # whether a move down counts
    shape = None
    if max(z, -z * falls) >= policy.spike_z and abs(z) >= policy.tail_ratio * s.tail:
        shape = "spike"
    elif max(s.cusum_up, s.cusum_down * falls) >= policy.cusum_h:
        shape = "shift"
    elif max(drift, -drift * falls) >= policy.drift_z:
        shape = "drift"
    if shape is None:
        return None
    s.rest_until_ns = at_ns + int(policy.rest_s * 1e9)
    s.cusum_up = s.cusum_down = 0.0
    since = s.since_ns or at_ns
    steady = s.gap_dev_s <= policy.steady_gap_share * s.gap_s
    counter = s.rises >= 0.2 and s.falls <= 0.02
    extreme = abs(z) >= policy.extreme_z
    return Signal(shape, value, level, spread, z, since, extreme, steady, counter)


def _learn(
    s: SeriesStat,
    at_ns: int,
    value: float,
    level: float,
    spread: float,
    z: float,
    policy: SeriesPolicy,
) -> None:
    kept = value
    if s.n >= policy.warmup:
        kept = min(level + policy.clip_z * spread, max(level - policy.clip_z * spread, value))
        if abs(z) < 50:
            s.tail += policy.tail_step * (policy.tail_q - (abs(z) <= s.tail))
            s.tail = max(s.tail, 1.0)
    s.ring.append(kept)
    del s.ring[: -policy.ring]
    s.short += policy.short_alpha * (value - s.short)
    s.long_dev += policy.long_alpha * (abs(kept - s.long) - s.long_dev) if s.n else 0.0
    s.long += max(policy.long_alpha, 1.0 / (s.n + 1)) * (kept - s.long)
    _learn_hour(s, _hour(at_ns), value, policy)
    if s.n:
        s.rises += policy.gap_alpha * ((value > s.last_value) - s.rises)
        s.falls += policy.gap_alpha * ((value < s.last_value) - s.falls)
        gap = (at_ns - s.last_ns) / 1e9
        rate = max(policy.gap_alpha, 1.0 / s.n)
        s.gap_dev_s += rate * (abs(gap - s.gap_s) - s.gap_dev_s) if s.n > 1 else 0.0
        s.gap_s += rate * (gap - s.gap_s)
    s.n += 1
    s.last_ns, s.last_value = at_ns, value


def _learn_hour(s: SeriesStat, hour: int, value: float, policy: SeriesPolicy) -> None:
    """The hour's level and spread, each an exponentially weighted mean of values held
    within `clip_z` of the hour's own range (so one wild value moves it little)."""
    n, level, spread = s.hour_n[hour], s.hour_level[hour], s.hour_spread[hour]
    if n == 0:
        level = value
    if n >= 6 and spread > 0:
        value = min(level + policy.clip_z * spread, max(level - policy.clip_z * spread, value))
    rate = max(policy.hour_step, 1.0 / (n + 1))
    s.hour_spread[hour] = spread + rate * (1.4826 * abs(value - level) - spread) if n else 0.0
    s.hour_level[hour] = level + rate * (value - level)
    s.hour_n[hour] = n + 1


def _hour(at_ns: int) -> int:
    return int(at_ns // HOUR_NS % 24)


def fresh(unit: str = "") -> SeriesStat:
    return SeriesStat(unit=unit)


def finite(value: float) -> bool:
    return math.isfinite(value)
