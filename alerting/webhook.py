"""A generic JSON webhook: every message of an incident POSTed as one documented object.

Body (version 1; fields may be added, never renamed):

    {"version": "1", "incident_id": "...", "kind": "firing|update|acknowledged|resolved|review",
     "revision": 1, "status": "firing|acknowledged|resolved", "severity": "critical",
     "title": "...", "summary": "...", "service": "...", "project": "...", "stream": "...",
     "anomaly_type": "...", "anomaly_types": [...], "anomaly_count": 3,
     "first_seen": "RFC 3339", "window_start": "...", "window_end": "...", "resolved_at": "...",
     "details": [...], "samples": [...], "links": [{"label": "...", "url": "..."}],
     "actions": [...], "labels": {"name": "value"}, "review": "...", "thread_ref": null}

Headers: `Idempotency-Key` (the same for every attempt at one message: a receiver drops
repeats by it) and, when a secret is configured, `Authorization: Bearer <secret>`.
2xx is delivered; 429 and 5xx are tried again (Retry-After honoured); other replies are final.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from alerting.alert import AlertMessage, MessageKind
from alerting.http_post import deliver_json
from alerting.notifier import DeliveryResult, url_secrets
from alerting.render import actions

BODY_VERSION = "1"
_STATUS_OF_KIND: dict[str, str] = {
    MessageKind.RESOLVED: "resolved",
    MessageKind.ACKNOWLEDGED: "acknowledged",
}


class WebhookNotifier:
    """POSTs each message to one URL; one attempt per `send`."""

    def __init__(self, url: str, secret: str | None = None, timeout_s: float = 10.0, *,
                 name: str = "webhook") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook URL must be an http(s) URL with a host")
        self.name = name
        self._url, self._timeout_s = url, timeout_s
        self._headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._secrets = (*url_secrets(url), *((secret,) if secret else ()))

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        headers = {**self._headers, "Idempotency-Key": key or message_key(message)}
        return deliver_json(self._url, webhook_body(message), headers, self._timeout_s,
                            self._secrets, "webhook")


def message_key(message: AlertMessage) -> str:
    """An idempotency key for a message sent without one: its incident and place in it."""
    return f"{message.alert_id}.{message.kind}.{message.revision}"


def webhook_body(message: AlertMessage) -> dict[str, object]:
    """The documented JSON object for one message."""
    return {
        "version": BODY_VERSION,
        "incident_id": message.alert_id,
        "kind": str(message.kind),
        "revision": message.revision,
        "status": _STATUS_OF_KIND.get(str(message.kind), "firing"),
        "severity": str(message.severity),
        "title": message.title,
        "summary": message.summary,
        "service": message.service,
        "project": message.project,
        "stream": message.stream,
        "anomaly_type": message.anomaly_type,
        "anomaly_types": list(message.anomaly_types) or [message.anomaly_type],
        "anomaly_count": message.anomaly_count,
        "first_seen": message.first_seen,
        "window_start": message.window_start,
        "window_end": message.window_end,
        "resolved_at": message.resolved_at,
        "details": list(message.details),
        "samples": list(message.samples),
        "links": [{"label": label, "url": url} for label, url in message.links],
        "actions": list(actions(message)),
        "labels": dict(message.labels),
        "review": message.review,
        "thread_ref": message.thread_ref,
    }
