"""Volume: a stream's entries per minute against its own robust baseline.

The baseline is the median and MAD of the log-rate over recent windows; once an hour of
the day has been seen on `seasonal_days` days, that hour's own baseline must agree
before anything fires, so a daily peak is not a spike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec

from pipeline.detectors.base import MinedBatch
from pipeline.detectors.explain import (
    FieldCounts,
    amount,
    count_fields,
    entry_ids,
    overrepresented,
    sentence,
    top_templates,
)
from pipeline.detectors.small_stats import median
from pipeline.detectors.sustain import Moments, Streak, Sustain, ramp, window_seconds
from pipeline.findings import Evidence, Finding

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


class HourBaseline(msgspec.Struct, frozen=True, array_like=True):
    rate: Moments = Moments()  # of the log-rate per minute in this hour of the day (UTC)
    days: int = 0  # distinct days this hour was seen
    last_day: int = -1


class VolumeState(msgspec.Struct):
    recent: list[float] = []  # log entries-per-minute of recent normal windows, oldest first
    hours: list[HourBaseline] = []  # 24 once started
    last_end_ns: int = 0
    streak: Streak = Streak()
    labels: FieldCounts = {}


@dataclass(frozen=True, slots=True)
class Deviation:
    log_ratio: float  # log of observed rate over baseline rate
    z: float
    baseline_per_min: float


@dataclass(frozen=True, slots=True)
class VolumeDetector:
    """Fires on spikes and drops of entries per minute, far outside the stream's noise."""

    z_threshold: float = 4.0
    spike_ratio: float = 2.5
    drop_ratio: float = 3.0
    poisson_z: float = 4.0  # the count must also be implausible for a Poisson process
    min_sigma: float = 0.2  # in log units: a perfectly steady stream still varies ~20%
    min_spike_entries: int = 20
    min_expected_for_drop: float = 10.0
    recent_windows: int = 60
    warmup_windows: int = 10
    seasonal_days: int = 2
    seasonal_alpha: float = 0.01  # ~ two days of minute windows per hour slot
    max_gap_s: float = 900.0
    sustain: Sustain = field(default_factory=Sustain)
    name = "volume"
    state_type = VolumeState

    def initial_state(self) -> VolumeState:
        return VolumeState()

    def detect(self, mined: MinedBatch, state: VolumeState) -> tuple[list[Finding], VolumeState]:
        batch = mined.batch
        seconds = window_seconds(batch, state.last_end_ns, self.max_gap_s)
        last_end = max(state.last_end_ns, batch.end_ns)
        if seconds is None:
            return [], self._after_gap(state, batch, last_end)
        count = len(batch.entries)
        log_rate = math.log(max(count, 0.5) * 60.0 / seconds)
        deviation = self._deviation(state, log_rate, batch.end_ns)
        direction = self._direction(deviation, count, seconds) if deviation else 0
        streak = state.streak.advance(direction != 0)
        findings = []
        if deviation and direction:
            findings.append(self._finding(mined, state, deviation, direction, seconds, streak))
        learned = self._learn(state, log_rate, batch.end_ns, streak, mined)
        return findings, msgspec.structs.replace(learned, last_end_ns=last_end, streak=streak)

    def _after_gap(self, state: VolumeState, batch, last_end: int) -> VolumeState:
        """A batch after a long quiet stretch is not judged (the silence detector's
        business), but its rate over the stretch is learned: a stream that often goes
        quiet for long (a thin sample, a batch job) must not take its busy hours alone as
        its usual rate, or every quiet hour would look like a drop."""
        gap_s = (batch.end_ns - state.last_end_ns) / 1e9
        recent = state.recent
        if state.last_end_ns > 0 and gap_s > self.max_gap_s:
            rate = math.log(max(len(batch.entries), 0.5) * 60.0 / gap_s)
            recent = [*recent, rate][-self.recent_windows :]
        return msgspec.structs.replace(state, recent=recent, last_end_ns=last_end)

    def _deviation(self, state: VolumeState, log_rate: float, end_ns: int) -> Deviation | None:
        if len(state.recent) < self.warmup_windows:
            return None
        center = median(state.recent)
        mad = median([abs(rate - center) for rate in state.recent])
        recent = Deviation(
            log_rate - center,
            (log_rate - center) / max(1.4826 * mad, self.min_sigma),
            math.exp(center),
        )
        hour = state.hours[end_ns // HOUR_NS % 24] if state.hours else HourBaseline()
        if hour.days < self.seasonal_days:
            return recent
        seasonal = Deviation(
            log_rate - hour.rate.mean,
            hour.rate.z(log_rate, self.min_sigma),
            math.exp(hour.rate.mean),
        )
        if recent.z * seasonal.z <= 0:  # the two baselines disagree on the direction
            return Deviation(0.0, 0.0, recent.baseline_per_min)
        return min(recent, seasonal, key=lambda d: abs(d.z))

    def _direction(self, deviation: Deviation, count: int, seconds: float) -> int:
        """+1 for a spike, -1 for a drop, 0 when within the noise."""
        expected = deviation.baseline_per_min * seconds / 60.0
        poisson = 2.0 * (math.sqrt(count) - math.sqrt(expected))
        if (
            deviation.z >= self.z_threshold
            and deviation.log_ratio >= math.log(self.spike_ratio)
            and poisson >= self.poisson_z
            and count >= self.min_spike_entries
        ):
            return 1
        if (
            deviation.z <= -self.z_threshold
            and deviation.log_ratio <= -math.log(self.drop_ratio)
            and poisson <= -self.poisson_z
            and expected >= self.min_expected_for_drop
        ):
            return -1
        return 0

    def _finding(
        self,
        mined: MinedBatch,
        state: VolumeState,
        deviation: Deviation,
        direction: int,
        seconds: float,
        streak: Streak,
    ) -> Finding:
        rate = deviation.baseline_per_min * math.exp(deviation.log_ratio)
        limit = math.log(self.spike_ratio if direction > 0 else self.drop_ratio)
        raw = ramp(abs(deviation.log_ratio), limit, limit + math.log(10.0))
        ratio = math.exp(abs(deviation.log_ratio))
        how = f"{ratio:.1f}x its usual" if direction > 0 else f"{ratio:.1f}x below its usual"
        running = f" for {streak.windows} windows in a row" if streak.windows > 1 else ""
        why = sentence(overrepresented(mined.entries, state.labels)) if direction > 0 else ""
        return Finding(
            detector=self.name,
            anomaly_type="volume_spike" if direction > 0 else "volume_drop",
            score=self.sustain.score(raw, streak.windows),
            summary=(
                f"The stream logged {amount(rate)} entries per minute, {how} "
                f"{amount(deviation.baseline_per_min)}{running}.{why}"
            ),
            evidence=Evidence(
                entry_ids=entry_ids(mined.entries),
                template_ids=top_templates(mined, range(len(mined.entries))),
                numbers={
                    "entries": len(mined.entries),
                    "window_s": round(seconds, 3),
                    "per_minute": round(rate, 3),
                    "baseline_per_minute": round(deviation.baseline_per_min, 3),
                    "z": round(deviation.z, 2),
                    "streak": streak.windows,
                },
            ),
        )

    def _learn(
        self, state: VolumeState, log_rate: float, end_ns: int, streak: Streak, mined: MinedBatch
    ) -> VolumeState:
        weight = self.sustain.learning_weight(streak.windows)
        recent = state.recent
        if self.sustain.admits(streak.windows):
            recent = [*recent, log_rate][-self.recent_windows :]
        hours = list(state.hours) or [HourBaseline() for _ in range(24)]
        slot, day = end_ns // HOUR_NS % 24, end_ns // DAY_NS
        hour = hours[slot]
        # The hour-of-day baseline learns every window, deviations included: a peak that
        # comes back each day is exactly what it must learn, and it only ever vetoes.
        hours[slot] = HourBaseline(
            hour.rate.learn(log_rate, self.seasonal_alpha),
            hour.days + (day != hour.last_day),
            day,
        )
        labels = count_fields(state.labels, mined.entries) if weight >= 1.0 else state.labels
        return msgspec.structs.replace(state, recent=recent, hours=hours, labels=labels)
