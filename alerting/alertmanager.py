"""Prometheus Alertmanager as a receiver: incidents POSTed to `/api/v2/alerts`, as
Prometheus does, so the team's Alertmanager routes, groups, inhibits and silences them.

An Alertmanager alert is its label set. Every message of an incident posts the same
labels, except `severity` and `anomaly_type` when the incident grows (its lead type is the
worst anomaly's): every post therefore also ends the alert under each other severity and
type of the incident, so a warning that became critical does not stay firing beside it.
Labels that change during an incident's life (its state, who acknowledged it) go into
the annotations, never into the labels.
While firing, `endsAt` lies a generous `firing_ttl` ahead, and every post (the outbox's
repeat included) pushes it on; posting the same alert again only refreshes it. The
resolved message sets `endsAt` to the resolution time, which ends the alert at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from alerting.alert import AlertMessage, MessageKind
from alerting.http_post import deliver_json
from alerting.notifier import DeliveryResult, url_secrets
from alerting.render import actions, headline, service_name

ALERTNAME = "LogwardenIncident"
SEVERITIES = ("critical", "warning", "info")
DEFAULT_FIRING_TTL = timedelta(hours=24)
# Message labels that change while an incident lives: annotations, so the alert keeps
# its identity.
VOLATILE_LABELS = frozenset({"state", "acknowledged_by"})
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")
# Annotations for links whose label says what they are, as Alertmanager templates expect.
_LINK_ANNOTATIONS = {"runbook": "runbook_url", "dashboard": "dashboard_url",
                     "logs explorer": "logs_url"}


class AlertmanagerNotifier:
    """Posts each message to one Alertmanager; one attempt (one POST) per `send`."""

    def __init__(self, url: str, timeout_s: float = 10.0, *, secret: str | None = None,
                 firing_ttl: timedelta = DEFAULT_FIRING_TTL, name: str = "alertmanager",
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the Alertmanager URL must be an http(s) URL with a host")
        self.name = name
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._timeout_s, self._firing_ttl, self._clock = timeout_s, firing_ttl, clock
        self._headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._secrets = (*url_secrets(url), *((secret,) if secret else ()))

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        # Alertmanager recognises a repeat by its labels, so the key is not needed.
        alerts = alertmanager_alerts(message, self._clock(), self._firing_ttl)
        return deliver_json(self._endpoint, alerts, self._headers, self._timeout_s,
                            self._secrets, "alertmanager")


def alertmanager_alerts(message: AlertMessage, now: datetime,
                        firing_ttl: timedelta = DEFAULT_FIRING_TTL) -> list[dict[str, object]]:
    """The incident as it stands, then the same alert ended under every other severity and
    anomaly type of the incident."""
    labels = alert_labels(message)
    starts = min(_time(message.first_seen or message.window_start, now), now)
    resolved = str(message.kind) == MessageKind.RESOLVED
    ends = max(_time(message.resolved_at, now), starts) if resolved else now + firing_ttl
    annotations, source = alert_annotations(message), _generator_url(message)
    current = (labels.get("severity"), labels.get("anomaly_type"))
    types = dict.fromkeys((message.anomaly_type, *message.anomaly_types))
    others = [
        _alert({**labels, "severity": severity, "anomaly_type": other}, annotations, starts,
               max(now, starts), source)
        for other in types for severity in SEVERITIES if (severity, other) != current
    ]
    return [_alert(labels, annotations, starts, ends, source), *others]


def alert_labels(message: AlertMessage) -> dict[str, str]:
    """alertname, incident, service, stream, project, anomaly_type and severity, then the
    message's own stable labels (names made valid; they never replace these)."""
    project = message.project or message.stream.split("/", 1)[0]
    core = {
        "alertname": ALERTNAME, "incident": message.alert_id,
        "service": service_name(message), "stream": message.stream, "project": project,
        "anomaly_type": message.anomaly_type, "severity": str(message.severity),
    }
    extra = {_label_name(name): value for name, value in message.labels
             if name not in VOLATILE_LABELS}
    merged = {**extra, **core}
    return {name: value for name, value in merged.items() if name and value}


def alert_annotations(message: AlertMessage) -> dict[str, str]:
    """summary, description (details and sample lines), links, and what to do."""
    description = [message.summary, *(f"- {d}" for d in message.details)]
    if message.samples:
        description += ["Sample lines:", *message.samples[:3]]
    annotations = {
        "title": headline(message),
        "summary": message.summary or message.title,
        "description": "\n".join(line for line in description if line),
        "links": "\n".join(f"{label}: {url}" for label, url in message.links),
        "actions": "\n".join(actions(message)),
        "kind": str(message.kind),
        "anomaly_count": str(message.anomaly_count),
        "anomaly_types": ", ".join(message.anomaly_types) or message.anomaly_type,
    }
    annotations |= {name: value for name, value in message.labels if name in VOLATILE_LABELS}
    for label, url in message.links:
        name = _LINK_ANNOTATIONS.get(label.strip().lower())
        if name:
            annotations[name] = url
    return {name: value for name, value in annotations.items() if value}


def _alert(labels: dict[str, str], annotations: dict[str, str], starts: datetime,
           ends: datetime, generator_url: str | None) -> dict[str, object]:
    alert: dict[str, object] = {"labels": labels, "annotations": annotations,
                                "startsAt": _rfc3339(starts), "endsAt": _rfc3339(ends)}
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def _generator_url(message: AlertMessage) -> str | None:
    """Where the alert came from: the Logs Explorer link first, else the first web link."""
    web = [(label, url) for label, url in message.links
           if urlsplit(url).scheme in ("http", "https")]
    logs = [url for label, url in web if label.strip().lower() == "logs explorer"]
    found = logs or [url for _, url in web]
    return found[0] if found else None


def _label_name(name: str) -> str:
    cleaned = _LABEL_NAME.sub("_", name)
    return f"_{cleaned}" if cleaned[:1].isdigit() else cleaned


def _time(text: str, default: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
