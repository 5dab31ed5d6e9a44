"""HTTP: request latency quantiles and the share of 5xx answers against the stream's past.

Latency is compared in log space (p50 and p95 each against an exponentially weighted
baseline); the 5xx share against its usual level, by how unlikely so many
failures are (Poisson tail).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec

from pipeline.detectors.base import MinedBatch
from pipeline.detectors.explain import (
    FieldCounts,
    count_fields,
    entry_ids,
    overrepresented,
    sentence,
    top_templates,
)
from pipeline.detectors.small_stats import quantile
from pipeline.detectors.sustain import Moments, Streak, Sustain, poisson_surprise, ramp
from pipeline.entry import LogEntry
from pipeline.findings import Evidence, Finding


class HttpState(msgspec.Struct):
    p50: Moments = Moments()  # of log seconds
    p95: Moments = Moments()
    errors: Moments = Moments()  # 5xx share
    latency_streak: Streak = Streak()
    error_streak: Streak = Streak()
    client_errors: Moments = Moments()  # 4xx share
    client_streak: Streak = Streak()
    labels: FieldCounts = {}


@dataclass(frozen=True, slots=True)
class HttpDetector:
    """Fires `latency` when p50 or p95 rises far past usual, `http_5xx` / `http_4xx` on a
    surge of failing answers."""

    min_requests: int = 10
    warmup_windows: int = 10
    alpha: float = 0.05
    z_threshold: float = 4.0
    latency_ratio: float = 2.0
    min_latency_rise_s: float = 0.05
    min_log_sigma: float = 0.15
    min_errors: int = 5
    min_error_share: float = 0.05
    error_ratio: float = 2.0
    min_surprise: float = 5.0  # -log10 of the chance of this many 5xx at the usual share
    error_floor: float = 0.01  # a stream that never fails is held to 1%, not 0%
    sustain: Sustain = field(default_factory=Sustain)
    name = "http"
    state_type = HttpState

    def initial_state(self) -> HttpState:
        return HttpState()

    def detect(self, mined: MinedBatch, state: HttpState) -> tuple[list[Finding], HttpState]:
        timed = [
            (e, s)
            for e in mined.entries
            if (s := e.http_latency_s) is not None and math.isfinite(s) and s >= 0
        ]
        answered = [e for e in mined.entries if e.http_status is not None]
        findings: list[Finding] = []
        if len(timed) >= self.min_requests:
            found, state = self._latency(mined, state, timed)
            findings += found
        if len(answered) >= self.min_requests:
            found, state = self._errors(mined, state, answered)
            findings += found
        return findings, state

    def _latency(
        self, mined: MinedBatch, state: HttpState, timed: list[tuple[LogEntry, float]]
    ) -> tuple[list[Finding], HttpState]:
        seconds = [s for _, s in timed]
        p50, p95 = quantile(seconds, 0.5), quantile(seconds, 0.95)
        warm = state.p95.n >= self.warmup_windows
        slow = warm and (self._slower(state.p50, p50) or self._slower(state.p95, p95))
        streak = state.latency_streak.advance(slow)
        weight = self.sustain.learning_weight(streak.windows)
        learned = msgspec.structs.replace(
            state,
            latency_streak=streak,
            p50=state.p50.learn(math.log(max(p50, 1e-6)), self.alpha, weight),
            p95=state.p95.learn(math.log(max(p95, 1e-6)), self.alpha, weight),
        )
        if not slow:
            return [], learned
        return [self._latency_finding(mined, state, timed, (p50, p95), streak)], learned

    def _latency_finding(
        self,
        mined: MinedBatch,
        state: HttpState,
        timed: list[tuple[LogEntry, float]],
        quantiles: tuple[float, float],
        streak: Streak,
    ) -> Finding:
        p50, p95 = quantiles
        usual50, usual95 = math.exp(state.p50.mean), math.exp(state.p95.mean)
        ratio = max(p50 / usual50, p95 / usual95)
        raw = ramp(math.log(ratio), math.log(self.latency_ratio), math.log(10 * self.latency_ratio))
        slowest = sorted(range(len(timed)), key=lambda i: (-timed[i][1], i))[:20]
        return Finding(
            detector=f"{self.name}/latency",
            anomaly_type="latency",
            score=self.sustain.score(raw, streak.windows),
            summary=(
                f"Requests slowed down: p50 {p50 * 1000:.0f} ms and p95 {p95 * 1000:.0f} ms over "
                f"{len(timed)} requests, against a usual {usual50 * 1000:.0f} ms and "
                f"{usual95 * 1000:.0f} ms."
            ),
            evidence=Evidence(
                entry_ids=tuple(timed[i][0].insert_id for i in slowest),
                template_ids=top_templates(mined, _indexes(mined, [timed[i][0] for i in slowest])),
                numbers={
                    "p50_s": p50,
                    "p95_s": p95,
                    "usual_p50_s": usual50,
                    "usual_p95_s": usual95,
                    "requests": len(timed),
                    "streak": streak.windows,
                },
            ),
        )

    def _slower(self, usual: Moments, now: float) -> bool:
        log_now = math.log(max(now, 1e-6))
        return (
            usual.z(log_now, self.min_log_sigma) >= self.z_threshold
            and log_now - usual.mean >= math.log(self.latency_ratio)
            and now - math.exp(usual.mean) >= self.min_latency_rise_s
        )

    def _errors(
        self, mined: MinedBatch, state: HttpState, answered: list[LogEntry]
    ) -> tuple[list[Finding], HttpState]:
        findings = []
        for kind in (SERVER_ERRORS, CLIENT_ERRORS):
            found, state = self._status_class(mined, state, answered, kind)
            findings += found
        return findings, state

    def _status_class(
        self, mined: MinedBatch, state: HttpState, answered: list[LogEntry], kind: StatusClass
    ) -> tuple[list[Finding], HttpState]:
        failed = [e for e in answered if kind.low <= (e.http_status or 0) <= kind.high]
        share = len(failed) / len(answered)
        usual_moments: Moments = getattr(state, kind.moments)
        usual = max(usual_moments.mean, self.error_floor)
        surprise = poisson_surprise(len(failed), usual * len(answered))
        surge = (
            usual_moments.n >= self.warmup_windows
            and len(failed) >= self.min_errors * kind.strictness
            and share >= self.min_error_share * kind.strictness
            and share >= self.error_ratio * usual
            and surprise >= self.min_surprise
        )
        streak = getattr(state, kind.streak).advance(surge)
        weight = self.sustain.learning_weight(streak.windows)
        learned = msgspec.structs.replace(
            state,
            **{kind.streak: streak, kind.moments: usual_moments.learn(share, self.alpha, weight)},
        )
        if kind is SERVER_ERRORS and weight >= 1.0:
            learned = msgspec.structs.replace(learned, labels=count_fields(state.labels, answered))
        if not surge:
            return [], learned
        finding = self._error_finding(mined, state, answered, failed, surprise, streak, kind)
        return [finding], learned

    def _error_finding(
        self,
        mined: MinedBatch,
        state: HttpState,
        answered: list[LogEntry],
        failed: list[LogEntry],
        surprise: float,
        streak: Streak,
        kind: StatusClass,
    ) -> Finding:
        share = len(failed) / len(answered)
        usual: Moments = getattr(state, kind.moments)
        why = sentence(overrepresented(failed, state.labels))
        low = self.min_error_share * kind.strictness
        return Finding(
            detector=f"{self.name}/{kind.name}",
            anomaly_type=f"http_{kind.name}",
            score=min(kind.max_score, self.sustain.score(ramp(share, low, 0.5), streak.windows)),
            summary=(
                f"{len(failed)} of {len(answered)} requests ({share:.0%}) were answered with a "
                f"{kind.name} status; this stream's usual share is {usual.mean:.1%}.{why}"
            ),
            evidence=Evidence(
                entry_ids=entry_ids(failed),
                template_ids=top_templates(mined, _indexes(mined, failed)),
                numbers={
                    "failed": len(failed),
                    "requests": len(answered),
                    "share": share,
                    "usual_share": usual.mean,
                    "surprise": round(surprise, 2),
                    "streak": streak.windows,
                },
            ),
        )


@dataclass(frozen=True, slots=True)
class StatusClass:
    """A family of failing statuses and how much of it it takes to matter."""

    name: str
    low: int
    high: int
    moments: str  # the HttpState fields that keep its baseline and streak
    streak: str
    strictness: float  # multiplies the minimum count and share
    max_score: float


# Server errors hurt users directly. A surge of client errors (404s, 401s) after a deploy
# is a classic broken route or auth change, but clients cause them too: ask for more.
SERVER_ERRORS = StatusClass("5xx", 500, 599, "errors", "error_streak", 1.0, 1.0)
CLIENT_ERRORS = StatusClass("4xx", 400, 499, "client_errors", "client_streak", 3.0, 0.8)


def _indexes(mined: MinedBatch, entries: list[LogEntry]) -> list[int]:
    wanted = {id(e) for e in entries}
    return [i for i, e in enumerate(mined.entries) if id(e) in wanted]
