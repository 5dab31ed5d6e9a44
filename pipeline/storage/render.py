"""A message's content, from its incident as it is when the message is sent.

The fields are those of `alerting.alert.AlertMessage`, as JSON. Whether a message goes
at all is decided here too: acknowledged and resolved incidents send no more updates,
a silence or a critical incident on the same service mutes the pages of a lesser one,
and a follow-up goes only where the page went.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pipeline.entry import StreamKey
from pipeline.escalation.redaction import redact
from pipeline.incidents import IncidentFacts, IncidentState, MessageKind
from pipeline.links import logs_explorer_url
from pipeline.storage import silences
from pipeline.storage.codec import rfc3339
from pipeline.storage.models import ALERTS, OUTBOX, TEMPLATES
from pipeline.storage.records import OutboxStatus

PAGES = (MessageKind.FIRING.value, MessageKind.UPDATE.value, MessageKind.REVIEW.value)


def incident(conn: Connection, incident_id: str) -> Mapping[Any, Any]:
    return conn.execute(select(ALERTS).where(ALERTS.c.id == incident_id)).mappings().one()


def payload(conn: Connection, row: Mapping[Any, Any], kind: str, revision: int,
            channel: str, extras: Mapping[Any, Any]) -> dict[str, Any]:
    """The message of `kind` at `revision` for `channel`, from incident `row`."""
    stream = StreamKey.parse(row["stream"])
    template = _template_text(conn, row["lead_template_id"])
    labels = [("state", row["status"]), ("group_key", row["group_key"])]
    if row["acknowledged_by"]:
        labels.append(("acknowledged_by", row["acknowledged_by"]))
    message = {
        "alert_id": row["id"], "fingerprint": row["fingerprint"], "title": row["title"],
        "severity": row["severity"], "stream": row["stream"],
        "anomaly_type": row["anomaly_type"], "summary": redact(row["summary"]),
        "details": list(row["details"]), "first_seen": rfc3339(row["first_seen_ns"]),
        "anomaly_count": row["anomaly_count"], "review": "not reviewed",
        "follow_up": kind != MessageKind.FIRING.value,
        "kind": kind, "revision": revision, "service": row["service"],
        "project": row["project"], "anomaly_types": list(row["anomaly_types"]),
        "window_start": rfc3339(row["first_seen_ns"]),
        "window_end": rfc3339(row["last_seen_ns"]),
        "resolved_at": _rfc3339_at(row["resolved_at"]),
        "samples": list(row["samples"]),
        "links": [("Logs Explorer", logs_explorer_url(
            stream, row["first_seen_ns"], row["last_seen_ns"], template))],
        "labels": labels,
        "thread_ref": thread_ref(conn, row["id"], channel),
    }
    # Only what a message adds to its incident; a payload frozen by an older version
    # (the whole message) must not hide the incident's state.
    kept = {k: v for k, v in extras.items()
            if k == "review" or (k == "summary" and kind == MessageKind.REVIEW.value)}
    return {**message, **kept}


def mute_reason(conn: Connection, row: Mapping[Any, Any], kind: str, channel: str,
                now: datetime) -> str | None:
    """Why this message must not go, or None when it should."""
    paged = thread_paged(conn, row["id"], channel)
    if kind not in PAGES:
        return None if paged else "not paged, so nothing to follow up"
    if row["status"] == IncidentState.ACKNOWLEDGED.value:
        return f"muted: acknowledged by {row['acknowledged_by'] or 'someone'}"
    if row["status"] == IncidentState.RESOLVED.value and paged:
        return "muted: resolved before it was sent"
    facts = IncidentFacts(row["stream"], row["severity"], tuple(row["anomaly_types"]))
    silence = silences.muting(conn, facts, now)
    if silence is not None:
        return f"silenced by {silence.id} ({silence.author}: {silence.comment})"
    inhibitor = inhibited_by(conn, row)
    return None if inhibitor is None else f"inhibited by critical incident {inhibitor}"


def inhibited_by(conn: Connection, row: Mapping[Any, Any]) -> str | None:
    """A critical incident open on the same service mutes the lesser ones."""
    if row["severity"] == "critical":
        return None
    col = ALERTS.c
    found = conn.execute(
        select(col.id).where(col.project == row["project"], col.service == row["service"],
                             col.severity == "critical", col.id != row["id"],
                             col.status != IncidentState.RESOLVED.value).limit(1)
    ).first()
    return None if found is None else str(found[0])


def thread_paged(conn: Connection, incident_id: str, channel: str) -> bool:
    """Whether this receiver got the incident's page."""
    col = OUTBOX.c
    stmt = select(col.id).where(col.alert_id == incident_id, col.channel == channel,
                                col.kind == MessageKind.FIRING.value,
                                col.status == OutboxStatus.SENT.value).limit(1)
    return conn.execute(stmt).first() is not None


def thread_ref(conn: Connection, incident_id: str, channel: str) -> str | None:
    """What the receiver returned for the incident's first message it took."""
    col = OUTBOX.c
    stmt = (select(col.thread_ref)
            .where(col.alert_id == incident_id, col.channel == channel,
                   col.thread_ref.is_not(None))
            .order_by(col.revision).limit(1))
    return conn.execute(stmt).scalar_one_or_none()


def _template_text(conn: Connection, template_id: str | None) -> str | None:
    if template_id is None:
        return None
    stmt = select(TEMPLATES.c.text).where(TEMPLATES.c.id == template_id)
    return conn.execute(stmt).scalar_one_or_none()


def _rfc3339_at(at: datetime | None) -> str:
    return "" if at is None else at.isoformat().replace("+00:00", "Z")
