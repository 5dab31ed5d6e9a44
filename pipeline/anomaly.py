"""Anomaly: what is stored when findings cross the line, and how it is scored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from pipeline.entry import StreamKey
from pipeline.findings import Finding


class AnomalySeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AnomalyStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"  # feedback said its template is expected here: no incident


@dataclass(frozen=True, slots=True)
class Verdict:
    """The LLM's structured opinion of an anomaly; advice only.

    `verdict` is anomaly, benign or unsure; `confidence` in [0, 1]; the ids are the
    templates and entries (from the prompt) the claims rest on.
    """

    verdict: str
    summary: str
    cause: str
    actions: tuple[str, ...] = ()
    model: str = ""
    anomaly_type: str = ""
    severity: str = ""
    confidence: float = 0.0
    title: str = ""
    impact: str = ""
    template_ids: tuple[str, ...] = ()
    insert_ids: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.verdict == "anomaly"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly of one type in one batch. `id` is the idempotency key."""

    id: str
    batch_id: str
    stream: StreamKey
    start_ns: int
    end_ns: int
    anomaly_type: str
    severity: AnomalySeverity
    score: float
    summary: str
    findings: tuple[Finding, ...]
    fingerprint: str
    lead_template_id: str | None = None
    verdict: Verdict | None = None
    status: AnomalyStatus = AnomalyStatus.OPEN
    samples: tuple[str, ...] = ()  # up to 3 of its real lines, redacted


def anomaly_id(batch_id: str, anomaly_type: str) -> str:
    return hashlib.blake2b(f"{batch_id}|{anomaly_type}".encode(), digest_size=16).hexdigest()


# Types about one message shape: two different shapes are two different problems.
TEMPLATE_TYPES = frozenset({"new_template", "template_burst", "rare_template", "parameter_outlier"})


def fingerprint(stream: StreamKey, anomaly_type: str, lead_template_id: str | None) -> str:
    """Groups anomalies: same stream and type, and for template types the same template.

    An error burst or a volume spike is one problem however its top message varies from
    minute to minute; a new message is a problem of its own.
    """
    lead = lead_template_id if anomaly_type in TEMPLATE_TYPES else None
    text = f"{stream}|{anomaly_type}|{lead or '-'}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
