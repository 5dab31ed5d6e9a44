"""Feedback on incidents: "expected" or "false positive", from the CLI, the API or a link.

Each is kept (a label eval and the detectors can read) and, unless told otherwise,
suppresses new anomalies of the incident's lead template on its stream: until
`expires_at`, or until the template changes (a generalized template has a new id, which
the feedback does not name). An incident without a template is suppressed by its type.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, or_, select

from pipeline.anomaly import Anomaly
from pipeline.storage.models import ALERTS, FEEDBACK


class FeedbackLabel(StrEnum):
    EXPECTED = "expected"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True, slots=True)
class Feedback:
    id: int
    alert_id: str | None
    stream: str
    template_id: str | None
    anomaly_type: str
    label: str
    author: str
    comment: str
    suppress: bool
    expires_at: datetime | None
    created_at: datetime


def add(conn: Connection, incident_id: str, label: FeedbackLabel, *, author: str,
        comment: str, suppress: bool, expires_at: datetime | None, now: datetime,
        projects: Collection[str] | None = None) -> Feedback | None:
    """Records feedback on an incident; None when there is no such incident (in scope)."""
    stmt = select(ALERTS.c.stream, ALERTS.c.lead_template_id, ALERTS.c.anomaly_type,
                  ALERTS.c.project).where(ALERTS.c.id == incident_id)
    row = conn.execute(stmt).first()
    if row is None or (projects is not None and row.project not in projects):
        return None
    values: dict[str, Any] = {
        "alert_id": incident_id, "stream": row.stream, "template_id": row.lead_template_id,
        "anomaly_type": row.anomaly_type, "label": label.value, "author": author,
        "comment": comment, "suppress": suppress, "expires_at": expires_at, "created_at": now,
    }
    new_id = conn.execute(FEEDBACK.insert().values(values).returning(FEEDBACK.c.id)).scalar_one()
    return Feedback(id=int(new_id), **values)


def suppresses(conn: Connection, anomaly: Anomaly, now: datetime) -> bool:
    """Whether feedback in force says this anomaly is expected on its stream."""
    template = anomaly.lead_template_id
    found = conn.execute(_SUPPRESSING[template is not None],
                         {"stream": str(anomaly.stream), "now": now, "template": template,
                          "anomaly_type": anomaly.anomaly_type})
    return found.first() is not None


def _suppressing(by_template: bool) -> Select[tuple[int]]:
    """The read of feedback in force on a stream: for the anomaly's template, or for its
    type when it has none. Built once: building it cost more than running it."""
    col = FEEDBACK.c
    same = (col.template_id == bindparam("template", type_=col.template_id.type)
            if by_template
            else and_(col.template_id.is_(None),
                      col.anomaly_type == bindparam("anomaly_type", type_=col.anomaly_type.type)))
    now = bindparam("now", type_=col.expires_at.type)
    return select(col.id).where(
        col.stream == bindparam("stream", type_=col.stream.type), col.suppress.is_(True), same,
        or_(col.expires_at.is_(None), col.expires_at > now),
    ).limit(1)


_SUPPRESSING = {by_template: _suppressing(by_template) for by_template in (True, False)}


def listed(conn: Connection, *, stream: str | None = None,
           projects: Collection[str] | None = None, limit: int = 1000) -> list[Feedback]:
    """Feedback given, newest first: the labels eval and the detectors read."""
    col = FEEDBACK.c
    stmt = select(FEEDBACK).order_by(col.id.desc()).limit(limit)
    if stream is not None:
        stmt = stmt.where(col.stream == stream)
    rows = [Feedback(**row) for row in conn.execute(stmt).mappings()]
    if projects is None:
        return rows
    return [f for f in rows if f.stream.split("/", 1)[0] in projects]
