"""Alert: a group of anomalies with one fingerprint, and what people are told."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

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
    SKIPPED = "skipped"  # not sent on purpose (acknowledged, silenced, inhibited), reason recorded


class MessageKind(StrEnum):
    """Which message of an incident this is. Only the first, `firing`, is a page."""

    FIRING = "firing"
    UPDATE = "update"  # grew: severity, scope or count
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REVIEW = "review"  # the LLM's verdict, after the page


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """What a channel renders: everything a person needs, nothing it must look up.

    `alert_id` holds the incident id. `thread_ref` is what this receiver returned for the
    incident's first delivered message (a Slack `<channel>:<ts>`, an email Message-ID);
    None on that first message itself."""

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
    kind: str = MessageKind.FIRING
    revision: int = 1  # grows with every message of one incident
    service: str = ""
    project: str = ""
    anomaly_types: tuple[str, ...] = ()
    window_start: str = ""  # RFC 3339
    window_end: str = ""  # RFC 3339
    resolved_at: str = ""  # RFC 3339
    samples: tuple[str, ...] = ()  # up to 3 real log lines, already redacted
    links: tuple[tuple[str, str], ...] = ()  # (label, url)
    actions: tuple[str, ...] = ()  # how to acknowledge or silence
    labels: tuple[tuple[str, str], ...] = ()  # extra route / Alertmanager labels
    thread_ref: str | None = None

    @property
    def follow_up(self) -> bool:
        """A reply to the incident's own message, not a page."""
        return str(self.kind) != MessageKind.FIRING

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> AlertMessage:
        """Rebuilds a message stored as JSON in the outbox, old payloads (with a
        `follow_up` flag and no `kind`) as well as new ones."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in payload.items() if k in known}
        values["severity"] = AnomalySeverity(str(values["severity"]))
        if not values.get("kind"):
            values["kind"] = MessageKind.REVIEW if payload.get("follow_up") else MessageKind.FIRING
        for name in ("details", "anomaly_types", "samples", "actions"):
            values[name] = tuple(str(item) for item in values.get(name) or ())
        for name in ("links", "labels"):
            values[name] = _pairs(values.get(name) or ())
        return cls(**values)

    def to_payload(self) -> dict[str, object]:
        """The message as JSON-ready values, the inverse of `from_payload`; `follow_up` is
        kept for readers of the older payloads."""
        payload: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        payload |= {
            "severity": str(self.severity),
            "kind": str(self.kind),
            "details": list(self.details),
            "anomaly_types": list(self.anomaly_types),
            "samples": list(self.samples),
            "actions": list(self.actions),
            "links": [list(pair) for pair in self.links],
            "labels": [list(pair) for pair in self.labels],
            "follow_up": self.follow_up,
        }
        return payload

def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """(label, value) pairs from JSON: a list of two-item lists, or an object."""
    items: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    return tuple((str(first), str(second)) for first, second in items)
