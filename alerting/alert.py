"""Alert: a group of anomalies with one fingerprint, and what people are told."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.anomaly import AnomalySeverity


class AlertStatus(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"  # permanent: given up, reason recorded


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """What a channel renders: everything a person needs, nothing it must look up."""

    alert_id: str
    fingerprint: str
    title: str
    severity: AnomalySeverity
    stream: str
    anomaly_type: str
    summary: str
    details: tuple[str, ...] = ()  # one line per finding, with its numbers
    first_seen: str = ""  # RFC 3339
    anomaly_count: int = 1
    review: str = ""  # the LLM's verdict in a line, or "not reviewed"
    follow_up: bool = False  # a reply to the alert's own message, not a page

    @classmethod
    def from_payload(cls, payload: dict[str, object]) -> AlertMessage:
        """Rebuilds a message stored as JSON in the outbox."""
        fields = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        fields["severity"] = AnomalySeverity(str(fields["severity"]))
        fields["details"] = tuple(fields.get("details") or ())  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]
