"""Silence: a regularly active stream that stops logging.

Batches only arrive while a stream logs, so an ongoing silence is found by a scheduled
job calling `check_silence(state, now_ns, stream)` on the state this detector keeps.
The detector itself reports a silence once it has ended, when the next batch arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from operator import sub

import msgspec

from pipeline.detectors.base import MinedBatch
from pipeline.detectors.small_stats import quantile
from pipeline.detectors.sustain import ramp
from pipeline.entry import StreamKey
from pipeline.findings import Evidence, Finding, duration_text


class SilenceState(msgspec.Struct):
    last_seen_ns: int = 0  # newest entry time seen
    first_seen_ns: int = 0
    quiet_s: list[float] = []  # longest stretch without entries per normal batch, bounded
    batches: int = 0


@dataclass(frozen=True, slots=True)
class SilenceDetector:
    """Silence = no entries for max(`gap_multiple` x typical gap, `longest_multiple` x the
    longest recent gap, `floor_s`): a stream whose gaps are irregular (a thin sample, a
    batch job) has shown that long gaps are normal for it."""

    gap_multiple: float = 6.0
    longest_multiple: float = 1.5
    floor_s: float = 300.0
    typical_quantile: float = 0.9  # of the recent quiet stretches
    min_batches: int = 10
    min_active_s: float = 1800.0  # seen for at least this long before it counts as regular
    max_typical_gap_s: float = 3600.0  # sparser streams are not "regularly active"
    give_up_s: float = 7 * 24 * 3600.0  # a stream gone this long is retired, not silent
    history: int = 60
    name = "silence"
    state_type = SilenceState

    def initial_state(self) -> SilenceState:
        return SilenceState()

    def threshold_s(self, state: SilenceState) -> float | None:
        """How long this stream may stay quiet; None while it is not regularly active."""
        if state.batches < self.min_batches or len(state.quiet_s) < self.min_batches:
            return None
        if (state.last_seen_ns - state.first_seen_ns) / 1e9 < self.min_active_s:
            return None
        typical = self.typical_gap_s(state)
        if typical > self.max_typical_gap_s:
            return None
        longest = max(state.quiet_s)
        return max(self.gap_multiple * typical, self.longest_multiple * longest, self.floor_s)

    def typical_gap_s(self, state: SilenceState) -> float:
        return quantile(state.quiet_s, self.typical_quantile) if state.quiet_s else 0.0

    def detect(self, mined: MinedBatch, state: SilenceState) -> tuple[list[Finding], SilenceState]:
        times = sorted([e.timestamp_ns for e in mined.entries])
        if not times:
            return [], state
        # The longest gap between consecutive entries, each gap taken in C.
        inside = max(map(sub, times[1:], times[:-1]), default=0) / 1e9
        before = (times[0] - state.last_seen_ns) / 1e9 if state.last_seen_ns else 0.0
        findings = []
        threshold = self.threshold_s(state)
        if threshold is not None and before >= threshold:
            findings.append(self._finding(state, mined.batch.key, before, threshold, ended=True))
        # Every gap is learned, silences too: a stream that goes quiet again and again
        # (a thin sample, a nightly lull) has shown that it does.
        quiet = max(inside, before)
        return findings, SilenceState(
            last_seen_ns=max(state.last_seen_ns, times[-1]),
            first_seen_ns=min(state.first_seen_ns or times[0], times[0]),
            quiet_s=[*state.quiet_s, quiet][-self.history :],
            batches=state.batches + 1,
        )

    def check(self, state: SilenceState, now_ns: int, stream: StreamKey) -> Finding | None:
        """A finding when `stream` has been quiet past its threshold at `now_ns`."""
        threshold = self.threshold_s(state)
        silent_s = (now_ns - state.last_seen_ns) / 1e9
        if threshold is None or silent_s < threshold or silent_s > self.give_up_s:
            return None
        return self._finding(state, stream, silent_s, threshold, ended=False)

    def _finding(
        self,
        state: SilenceState,
        stream: StreamKey,
        silent_s: float,
        threshold: float,
        ended: bool,
    ) -> Finding:
        typical = self.typical_gap_s(state)
        what = "was silent for" if ended else "has logged nothing for"
        tail = ", then resumed" if ended else ""
        return Finding(
            detector=self.name,
            anomaly_type="silence",
            score=ramp(silent_s / threshold, 1.0, 4.0),
            summary=(
                f"{stream.service or stream} {what} {duration_text(silent_s)}{tail}; it "
                f"usually goes no longer than {duration_text(typical)} without an entry."
            ),
            evidence=Evidence(
                numbers={
                    "silent_s": round(silent_s, 3),
                    "threshold_s": round(threshold, 3),
                    "typical_gap_s": round(typical, 3),
                    "last_seen_ns": state.last_seen_ns,
                }
            ),
        )


def check_silence(
    state: SilenceState,
    now_ns: int,
    stream: StreamKey,
    detector: SilenceDetector = SilenceDetector(),
) -> Finding | None:
    """For a scheduled job: is `stream` silent at `now_ns` (pure; `now_ns` is the clock)."""
    return detector.check(state, now_ns, stream)


def silence_window_id(stream: StreamKey, last_seen_ns: int) -> str:
    """One silence, one window: named by the stream and its last entry before the silence,
    so the scheduled check and the batch that ends the silence store one anomaly."""
    digest = hashlib.blake2b(f"silence|{stream}|{last_seen_ns}".encode(), digest_size=16)
    return digest.hexdigest()
