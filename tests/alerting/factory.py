"""Alert messages for channel tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from alerting.alert import AlertMessage
from pipeline.anomaly import AnomalySeverity

DETAILS = (
    "error_share: share of ERROR entries rose above its baseline (baseline=0.02, share=0.41)",
    "new_template: 3 templates never seen before (count=3)",
)


def alert_message(**overrides: Any) -> AlertMessage:
    message = AlertMessage(
        alert_id="alert-7f3a",
        fingerprint="fp-91c2",
        title="error burst in checkout",
        severity=AnomalySeverity.CRITICAL,
        stream="acme-prod/k8s_container/checkout",
        anomaly_type="error_burst",
        summary="Errors jumped from 2% to 41% of checkout's entries in one minute.",
        details=DETAILS,
        first_seen="2026-11-03T09:14:00Z",
        anomaly_count=3,
    )
    return dataclasses.replace(message, **overrides)


def as_outbox_payload(message: AlertMessage) -> AlertMessage:
    """The message as the outbox rebuilds it from JSON: severity a str, details a list."""
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    fields["severity"] = str(message.severity)
    fields["details"] = list(message.details)
    return AlertMessage(**fields)
