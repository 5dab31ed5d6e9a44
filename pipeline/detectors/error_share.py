"""Error share: the part of a batch at ERROR or worse, against a line and a baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np

from pipeline.detectors.base import MinedBatch
from pipeline.detectors.sustain import poisson_surprise
from pipeline.findings import Evidence, Finding


class ErrorShareState(msgspec.Struct):
    mean: float = 0.0  # exponentially weighted share of errors per batch
    var: float = 0.0
    batches: int = 0
    recent: list[float] = []  # the last shares, for how bursty this stream's errors are


@dataclass(frozen=True, slots=True)
class ErrorShareDetector:
    """Fires when errors are a large share of a batch, absolutely or for this stream."""

    absolute_share: float = 0.5
    min_errors: int = 5
    z_threshold: float = 4.0
    min_sigma: float = 0.03  # a stream that never errs still has some noise
    alpha: float = 0.05
    warmup_batches: int = 10
    min_usual_share: float = 0.02
    confidence_z: float = 2.576  # the share's 99 % lower bound is what is judged
    min_surprise: float = 4.0  # -log10 of the chance of this many errors at the usual share
    history: int = 240
    usual_high_quantile: float = 0.99
    min_history: int = 30
    name: str = "error_share"
    state_type: type = ErrorShareState

    def initial_state(self) -> ErrorShareState:
        return ErrorShareState()

    def detect(
        self, mined: MinedBatch, state: ErrorShareState
    ) -> tuple[list[Finding], ErrorShareState]:
        entries = mined.entries
        if not entries:
            return [], state
        errors = [e for e in entries if e.severity.is_error]
        share = len(errors) / len(entries)
        # Judge the share we are sure of: 6 errors in 6 lines is not yet "100 % errors".
        sure = wilson_lower_bound(len(errors), len(entries), self.confidence_z)
        sigma = max(math.sqrt(state.var), self.min_sigma)
        z = (sure - state.mean) / sigma
        warm = state.batches >= self.warmup_batches
        over_line = sure >= self.absolute_share
        over_baseline = warm and z >= self.z_threshold
        # A small window of a stream that often errs can be all errors by chance: ask how
        # unlikely this many errors are at the stream's usual share (before warm-up: 2 %).
        usual = max(state.mean if warm else 0.0, self.min_usual_share)
        surprise = poisson_surprise(len(errors), usual * len(entries))
        # Errors that come in clumps: a share this stream has reached before is its normal.
        usual_high = self._usual_high(state)
        if (
            len(errors) < self.min_errors
            or surprise < self.min_surprise
            or share <= usual_high
            or not (over_line or over_baseline)
        ):
            return [], self._learn(state, share)
        # An incident is not learned as normal: the baseline stays where it was.
        score = max(
            _ramp(sure, self.absolute_share, 1.0) if over_line else 0.0,
            _ramp(z, self.z_threshold, 3 * self.z_threshold) if over_baseline else 0.0,
        )
        baseline = f"; this stream's usual share is {state.mean:.1%}" if warm else ""
        finding = Finding(
            detector=self.name,
            anomaly_type="error_burst",
            score=score,
            summary=(
                f"{len(errors)} of {len(entries)} entries ({share:.0%}) are errors{baseline}."
            ),
            evidence=Evidence(
                entry_ids=tuple(e.insert_id for e in errors[:20]),
                template_ids=_top_templates(mined, [e.severity.is_error for e in entries]),
                numbers={
                    "errors": len(errors),
                    "entries": len(entries),
                    "share": share,
                    "baseline_share": state.mean,
                    "z": round(z, 2),
                    "surprise": round(surprise, 2),
                },
            ),
        )
        return [finding], state

    def _usual_high(self, state: ErrorShareState) -> float:
        if len(state.recent) < self.min_history:
            return 0.0
        return float(np.quantile(state.recent, self.usual_high_quantile))

    def _learn(self, state: ErrorShareState, share: float) -> ErrorShareState:
        delta = share - state.mean
        mean = state.mean + self.alpha * delta
        var = (1 - self.alpha) * (state.var + self.alpha * delta * delta)
        recent = [*state.recent, round(share, 4)][-self.history :]
        return ErrorShareState(mean=mean, var=var, batches=state.batches + 1, recent=recent)


def wilson_lower_bound(successes: int, trials: int, z: float) -> float:
    """The lower end of the Wilson score interval for a proportion."""
    if trials == 0:
        return 0.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - spread) / denominator)


def _ramp(value: float, low: float, high: float) -> float:
    """0.6 at `low`, rising linearly to 1.0 at `high`: crossing a line is already notable."""
    if high <= low:
        return 1.0
    return round(min(1.0, 0.6 + 0.4 * max(0.0, value - low) / (high - low)), 4)


def _top_templates(mined: MinedBatch, mask: list[bool], limit: int = 5) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for template_id, keep in zip(mined.template_ids, mask, strict=True):
        if keep:
            counts[template_id] = counts.get(template_id, 0) + 1
    return tuple(sorted(counts, key=counts.__getitem__, reverse=True)[:limit])
