"""The JSON the API answers with, for incidents, their notifications, feedback and
silences (anomalies share `workers.listing.anomaly_json` with the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.entry import StreamKey
from pipeline.links import logs_explorer_url
from pipeline.storage.feedback import Feedback
from pipeline.storage.records import DeliveryAttempt, StoredAlert
from pipeline.storage.silences import Silence


def incident_json(i: StoredAlert) -> dict[str, Any]:
    return {
        "id": i.id,
        "state": i.status,
        "severity": i.severity,
        "title": i.title,
        "summary": i.summary,
        "project": i.project,
        "service": i.service,
        "stream": i.stream,
        "type": i.anomaly_type,
        "types": list(i.anomaly_types),
        "anomalies": i.anomaly_count,
        "first_seen": _log_time(i.first_seen_ns),
        "last_seen": _log_time(i.last_seen_ns),
        "opened_at": _time(i.opened_at),
        "acknowledged_at": _time(i.acknowledged_at),
        "acknowledged_by": i.acknowledged_by,
        "resolved_at": _time(i.resolved_at),
        "resolved_by": i.resolved_by,
        "revision": i.revision,
        "details": list(i.details),
        "samples": list(i.samples),
        "logs_url": logs_explorer_url(StreamKey.parse(i.stream), i.first_seen_ns,
                                      i.last_seen_ns, None),
    }


def delivery_json(d: DeliveryAttempt) -> dict[str, Any]:
    return {"receiver": d.channel, "kind": d.kind, "revision": d.revision,
            "attempt": d.attempt, "status": str(d.status), "error": d.error,
            "at": _time(d.created_at)}


def feedback_json(f: Feedback) -> dict[str, Any]:
    return {"id": f.id, "incident_id": f.alert_id, "stream": f.stream, "label": f.label,
            "author": f.author, "comment": f.comment, "suppress": f.suppress,
            "template_id": f.template_id, "type": f.anomaly_type,
            "expires_at": _time(f.expires_at), "created_at": _time(f.created_at)}


def silence_json(s: Silence, now: datetime) -> dict[str, Any]:
    return {"id": s.id, "project": s.project, "matchers": [str(m) for m in s.matchers],
            "starts_at": _time(s.starts_at), "ends_at": _time(s.ends_at),
            "active": s.active(now), "author": s.author, "comment": s.comment,
            "created_at": _time(s.created_at)}


def _log_time(ns: int) -> str:
    return _stamp(datetime.fromtimestamp(ns / 1e9, UTC))


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else _stamp(moment)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
