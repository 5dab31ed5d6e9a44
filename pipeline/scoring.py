"""Scoring: a batch's findings become anomalies, one per anomaly type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.anomaly import Anomaly, AnomalySeverity, anomaly_id, fingerprint
from pipeline.batch import Batch
from pipeline.entry import StreamKey
from pipeline.findings import Finding

# Types whose every occurrence hurts users: they reach critical at a lower score.
URGENT_TYPES = frozenset({"crash", "resource_exhaustion", "http_5xx"})


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """`sensitivity` > 1 reports more, < 1 fewer; it scales scores before thresholds.

    `stream_sensitivity` overrides it for a stream, named by its full key
    (`project/resource_type/service`) or by its service alone; the full key wins.
    """

    anomaly_threshold: float = 0.6  # at and above, stored and alerted
    critical_threshold: float = 0.85
    sensitivity: float = 1.0
    stream_sensitivity: Mapping[str, float] = field(default_factory=dict)

    def sensitivity_for(self, stream: StreamKey) -> float:
        per_stream = self.stream_sensitivity
        return per_stream.get(str(stream), per_stream.get(stream.service, self.sensitivity))

    def severity(self, anomaly_type: str, score: float) -> AnomalySeverity:
        critical_at = self.critical_threshold - (0.1 if anomaly_type in URGENT_TYPES else 0.0)
        if score >= critical_at:
            return AnomalySeverity.CRITICAL
        if score >= 0.6:
            return AnomalySeverity.WARNING
        return AnomalySeverity.INFO


def combine(scores: Sequence[float]) -> float:
    """Noisy-or: independent evidence adds up, but never past 1."""
    miss = 1.0
    for score in scores:
        miss *= 1.0 - score
    return 1.0 - miss


def score_batch(
    batch: Batch, findings: Sequence[Finding], policy: ScoringPolicy = ScoringPolicy()
) -> list[Anomaly]:
    """One anomaly per anomaly type whose combined, sensitivity-scaled score is high enough."""
    window = Window(batch.id, batch.key, batch.start_ns, batch.end_ns)
    return score_window(window, findings, policy)


@dataclass(frozen=True, slots=True)
class Window:
    """What findings are about: a batch, or a stretch a scheduled check looked at."""

    id: str
    stream: StreamKey
    start_ns: int
    end_ns: int


def score_window(
    window: Window, findings: Sequence[Finding], policy: ScoringPolicy = ScoringPolicy()
) -> list[Anomaly]:
    """`score_batch` for any window; the window id makes the anomaly ids idempotent."""
    by_type: dict[str, list[Finding]] = {}
    for finding in findings:
        by_type.setdefault(finding.anomaly_type, []).append(finding)
    anomalies = []
    sensitivity = policy.sensitivity_for(window.stream)
    for anomaly_type, group in sorted(by_type.items()):
        score = min(1.0, combine(_strongest_per_detector(group)) * sensitivity)
        if score < policy.anomaly_threshold:
            continue
        group.sort(key=lambda f: f.score, reverse=True)
        lead = _lead_template(group)
        anomalies.append(
            Anomaly(
                id=anomaly_id(window.id, anomaly_type),
                batch_id=window.id,
                stream=window.stream,
                start_ns=window.start_ns,
                end_ns=window.end_ns,
                anomaly_type=anomaly_type,
                severity=policy.severity(anomaly_type, score),
                score=round(score, 4),
                summary=group[0].summary,
                findings=tuple(group),
                fingerprint=fingerprint(window.stream, anomaly_type, lead),
                lead_template_id=lead,
            )
        )
    return anomalies


def _strongest_per_detector(findings: Sequence[Finding]) -> list[float]:
    """Many findings of one detector are one opinion, not independent evidence."""
    best: dict[str, float] = {}
    for f in findings:
        best[f.detector] = max(best.get(f.detector, 0.0), f.score)
    return list(best.values())


def _lead_template(findings: Sequence[Finding]) -> str | None:
    """The template named by most findings; the highest-scored finding breaks ties."""
    votes = Counter(t for f in findings for t in f.evidence.template_ids[:1])
    return votes.most_common(1)[0][0] if votes else None
