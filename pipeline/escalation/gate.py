"""When to escalate: never every batch, only anomalies worth a second opinion.

An anomaly is worth one when its score sits in the borderline band (a second opinion
decides), when it opens an incident (an alert), when it is more severe than the one
last reviewed on its fingerprint, or when it is a new message that reads as a failure.
Then economy decides: a verdict kept for the fingerprint's cool-down is reused (only
new alerts need it), and of concurrent escalations of one fingerprint only the one that
takes the claim goes out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.anomaly import Anomaly
from pipeline.detectors.base import MinedBatch
from pipeline.escalation.ledger import EscalationLedger
from pipeline.escalation.redaction import Redactor
from pipeline.escalation.request import EscalationRequest, build_request
from pipeline.storage.codec import SEVERITY_RANK


@dataclass(frozen=True, slots=True)
class GatePolicy:
    borderline_low: float = 0.6
    borderline_high: float = 0.8
    on_alert_open: bool = True
    on_severity_growth: bool = True
    on_new_failure_template: bool = True
    claim_ttl_s: float = 600.0  # how long a queued escalation holds its fingerprint


def escalation_reasons(
    anomaly: Anomaly, mined: MinedBatch, *, opened_alert: bool, reviewed_rank: int | None,
    policy: GatePolicy,
) -> tuple[str, ...]:
    """Why `anomaly` deserves a review; empty when it does not."""
    reasons = []
    if policy.borderline_low <= anomaly.score < policy.borderline_high:
        reasons.append("borderline score")
    if policy.on_alert_open and opened_alert:
        reasons.append("opened an alert")
    rank = SEVERITY_RANK[anomaly.severity]
    if policy.on_severity_growth and reviewed_rank is not None and rank > reviewed_rank:
        reasons.append("more severe than when last reviewed")
    if policy.on_new_failure_template and _new_failure(anomaly, mined):
        reasons.append("new failure message")
    return tuple(reasons)


def _new_failure(anomaly: Anomaly, mined: MinedBatch) -> bool:
    if anomaly.anomaly_type != "new_template" or anomaly.lead_template_id is None:
        return False
    lead = anomaly.lead_template_id
    return any(e.severity.is_error for e, t in zip(mined.entries, mined.template_ids,
                                                   strict=True) if t == lead)


class EscalationGate:
    """Called by the detect step after a batch is recorded; hands requests to `send`
    (the `llm` queue in the fleet, the escalator itself in embedded mode)."""

    def __init__(
        self, policy: GatePolicy, ledger: EscalationLedger, redactor: Redactor,
        send: Callable[[EscalationRequest], None],
        reuse: Callable[[EscalationRequest], None] | None = None,
    ) -> None:
        self.policy = policy
        self.ledger = ledger
        self.redactor = redactor
        self.send = send
        # A kept verdict is applied here, before the new alert's page is sent (no call is
        # made), when `reuse` is given; otherwise it travels like any request.
        self.reuse = reuse or send

    def consider(
        self, mined: MinedBatch, anomalies: Sequence[Anomaly], alert_of: Mapping[str, str],
        new_alert_ids: Sequence[str],
    ) -> list[EscalationRequest]:
        """Sends a request for each anomaly worth one; returns what was sent."""
        sent = []
        for anomaly in anomalies:
            alert_id = alert_of.get(anomaly.id)
            opened = alert_id is not None and alert_id in new_alert_ids
            cached = self.ledger.cached(anomaly.fingerprint)
            rank = cached.severity_rank if cached else None
            reasons = escalation_reasons(anomaly, mined, opened_alert=opened,
                                         reviewed_rank=rank, policy=self.policy)
            if not reasons:
                continue
            grown = rank is not None and SEVERITY_RANK[anomaly.severity] > rank
            if cached is not None and not grown:
                if not opened:
                    continue  # its alert already has the verdict
            elif not self.ledger.claim(anomaly.fingerprint, self.policy.claim_ttl_s):
                continue  # another escalation of this fingerprint is on its way
            request = build_request(anomaly, mined, self.redactor, alert_id=alert_id,
                                    reasons=reasons)
            (self.reuse if cached is not None and not grown else self.send)(request)
            sent.append(request)
        return sent
