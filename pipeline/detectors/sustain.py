"""Shared by the statistical detectors: lasting deviations weigh more than one noisy
window, and baselines keep learning without learning an ongoing incident as normal.

A detector keeps one `Streak` per kind of deviation in its state, advances it once per
window, scores through `Sustain.score` and learns through `Sustain.learning_weight`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from pipeline.batch import Batch


class Streak(msgspec.Struct, frozen=True):
    """How many windows in a row were anomalous (0: the last one was normal)."""

    windows: int = 0

    def advance(self, anomalous: bool) -> Streak:
        return Streak(self.windows + 1 if anomalous else 0)


@dataclass(frozen=True, slots=True)
class Sustain:
    """How a streak turns into a score and into a learning rate."""

    single_window_weight: float = 0.85  # one window alone is damped
    boost_per_window: float = 0.04  # from the third window on
    max_boost: float = 0.12
    adapt_after: int = 60  # windows of one deviation before it slowly becomes the norm
    adapt_weight: float = 0.1  # learning rate then, relative to normal

    def score(self, raw: float, streak: int) -> float:
        """The score of a window anomalous `streak` windows in a row (1 = this one only)."""
        if streak <= 1:
            return round(min(1.0, raw * self.single_window_weight), 4)
        boost = min(self.max_boost, self.boost_per_window * (streak - 2))
        return round(min(1.0, raw + boost), 4)

    def learning_weight(self, streak: int) -> float:
        """1 for a normal window (streak 0), 0 during a deviation, small once it lasts.

        A level shift that holds for `adapt_after` windows is a new normal; learning it
        slowly stops it from alerting forever without forgetting the old baseline at once.
        """
        if streak <= 0:
            return 1.0
        return self.adapt_weight if streak > self.adapt_after else 0.0

    def admits(self, streak: int) -> bool:
        """Whether a window joins a list-shaped baseline (a ring of recent values)."""
        weight = self.learning_weight(streak)
        if weight >= 1.0 or weight <= 0.0:
            return weight >= 1.0
        return streak % max(1, round(1 / weight)) == 0


class Moments(msgspec.Struct, frozen=True, array_like=True):
    """An exponentially weighted mean and variance."""

    mean: float = 0.0
    var: float = 0.0
    n: int = 0

    def sigma(self, floor: float) -> float:
        return max(math.sqrt(self.var), floor)

    def z(self, value: float, floor: float) -> float:
        return (value - self.mean) / self.sigma(floor)

    def learn(self, value: float, alpha: float, weight: float = 1.0) -> Moments:
        """`value` folded in at rate `alpha * weight`; early on, a plain running mean."""
        if weight <= 0.0 or not math.isfinite(value):
            return self
        if self.n == 0:
            return Moments(value, 0.0, 1)
        rate = alpha * weight
        if weight >= 1.0:
            rate = max(rate, 1.0 / (self.n + 1))
        delta = value - self.mean
        var = (1 - rate) * (self.var + rate * delta * delta)
        return Moments(self.mean + rate * delta, var, self.n + 1)


def ramp(value: float, low: float, high: float, start: float = 0.6) -> float:
    """`start` at `low`, rising linearly to 1.0 at `high`: crossing a line is notable."""
    if high <= low:
        return 1.0
    return round(min(1.0, start + (1.0 - start) * max(0.0, value - low) / (high - low)), 4)


def window_seconds(batch: Batch, last_end_ns: int, max_gap_s: float) -> float | None:
    """The log time a batch stands for: since the previous batch of the stream ended.

    None when there is no previous batch, the batch is older than it (late data), or the
    stream was quiet longer than `max_gap_s` (the silence detector's business): such a
    window has no meaningful rate.
    """
    if not batch.entries or last_end_ns <= 0:
        return None
    gap_s = (batch.end_ns - last_end_ns) / 1e9
    if gap_s <= 0 or gap_s > max_gap_s:
        return None
    return max(gap_s, (batch.end_ns - batch.start_ns) / 1e9, 1.0)


def poisson_surprise(count: int, expected: float, cap: float = 50.0) -> float:
    """-log10 P(X >= count) for X ~ Poisson(expected): 6 means a one-in-a-million count.

    0 when the count is not above what was expected.
    """
    if count <= expected:
        return 0.0
    if expected <= 0:
        return cap
    log_term = -expected + count * math.log(expected) - math.lgamma(count + 1)
    log_tail, i = log_term, count
    while i < count + 1000:  # the terms shrink geometrically once past `expected`
        i += 1
        log_term += math.log(expected / i)
        log_tail = max(log_tail, log_term) + math.log1p(math.exp(-abs(log_tail - log_term)))
        if log_term < log_tail - 40:
            break
    return min(cap, -log_tail / math.log(10))
