"""Folding anomalies into incidents, inside the recording transaction.

An anomaly joins the open incident of its group key when it comes within the quiet
period of the incident's last anomaly; otherwise that incident is resolved and a new one
opens. At most one incident per key is open (a partial unique index), and the open one
is locked while an anomaly is added to it, so two workers never open two incidents for
one key, and never lose a count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from observability.metrics import get_metrics
from pipeline.anomaly import Anomaly
from pipeline.escalation.redaction import redact
from pipeline.incidents import (
    SEVERITY_RANK,
    IncidentFacts,
    IncidentPolicy,
    IncidentState,
    grew,
    group_key,
)
from pipeline.storage import codec, notices
from pipeline.storage.db import insert_for
from pipeline.storage.models import ALERTS

MAX_SAMPLES = 3


def fold(
    conn: Connection, anomaly: Anomaly, policy: IncidentPolicy, now: datetime
) -> tuple[str, bool]:
    """Adds `anomaly` to its open incident, or opens one; returns (incident id, opened)."""
    key = group_key(anomaly.stream, policy.group_by)
    row = open_incident(conn, key)
    if row is not None and anomaly.start_ns > row["last_seen_ns"] + policy.quiet_ns:
        resolve(conn, row["id"], by="quiet period", now=now)
        row = None
    if row is None:
        incident_id = _open(conn, anomaly, key, now)
        if incident_id is not None:
            _count("opened")
            notices.page(conn, incident_id, facts_of(_locked(conn, incident_id)), policy.router,
                         now)
            return incident_id, True
        row = open_incident(conn, key)  # another worker opened it meanwhile
        if row is None:  # and resolved it already: unlikely, so simply try again
            return fold(conn, anomaly, policy, now)
    _add(conn, row, anomaly, policy, now)
    return row["id"], False


def open_incident(conn: Connection, key: str) -> Mapping[Any, Any] | None:
    """The open incident of `key`, locked for this transaction (on Postgres)."""
    return conn.execute(_OPEN_INCIDENT, {"key": key}).mappings().first()


# The statements run for every anomaly are built once and run with its values: building
# them for each cost more than running them.
_OPEN_INCIDENT = select(ALERTS).where(
    ALERTS.c.group_key == bindparam("key", type_=ALERTS.c.group_key.type),
    ALERTS.c.status != IncidentState.RESOLVED.value).with_for_update()
# Sets the columns its parameters name (`incident` is the id, not a column).
_UPDATE_INCIDENT = ALERTS.update().where(
    ALERTS.c.id == bindparam("incident", type_=ALERTS.c.id.type))


def _locked(conn: Connection, incident_id: str) -> Mapping[Any, Any]:
    stmt = select(ALERTS).where(ALERTS.c.id == incident_id).with_for_update()
    return conn.execute(stmt).mappings().one()


def facts_of(row: Mapping[Any, Any]) -> IncidentFacts:
    return IncidentFacts(stream=row["stream"], severity=row["severity"],
                         anomaly_types=tuple(row["anomaly_types"]))


def incident_id_for(key: str, anomaly_id: str) -> str:
    """Stable, so a batch recorded twice names the incident it opened the same."""
    return hashlib.blake2b(f"{key}|{anomaly_id}".encode(), digest_size=16).hexdigest()


def _open(conn: Connection, anomaly: Anomaly, key: str, now: datetime) -> str | None:
    """Inserts a new incident; None when `key` has an open one (someone was quicker)."""
    values = {
        "id": incident_id_for(key, anomaly.id),
        "group_key": key,
        "fingerprint": anomaly.fingerprint,
        "status": IncidentState.FIRING.value,
        "severity": str(anomaly.severity),
        "title": codec.alert_title(anomaly),
        "summary": anomaly.summary,
        "stream": str(anomaly.stream),
        "project": anomaly.stream.project,
        "service": anomaly.stream.service,
        "anomaly_type": anomaly.anomaly_type,
        "anomaly_types": [anomaly.anomaly_type],
        "details": _details(anomaly),
        "samples": list(anomaly.samples[:MAX_SAMPLES]),
        "lead_template_id": anomaly.lead_template_id,
        "first_seen_ns": anomaly.start_ns,
        "last_seen_ns": anomaly.end_ns,
        "anomaly_count": 1,
        "revision": 1,
        "opened_at": now,
        "active_at": now,
    }
    # No conflict target: a clash on the id or on the open key is the same incident.
    stmt = insert_for(conn, ALERTS).values(values).on_conflict_do_nothing()
    inserted = conn.execute(stmt.returning(ALERTS.c.id)).first()
    return None if inserted is None else str(inserted[0])


def _add(conn: Connection, row: Mapping[Any, Any], anomaly: Anomaly, policy: IncidentPolicy,
         now: datetime) -> None:
    """Counts one more anomaly into the (locked) incident; tells its receivers when it grew."""
    types = list(row["anomaly_types"])
    severity = str(anomaly.severity)
    worse = SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(row["severity"], 0)
    count = row["anomaly_count"] + 1
    growth = grew(row["severity"], severity, types, anomaly.anomaly_type, count)
    values: dict[str, Any] = {
        "anomaly_count": count,
        "first_seen_ns": min(row["first_seen_ns"], anomaly.start_ns),
        "last_seen_ns": max(row["last_seen_ns"], anomaly.end_ns),
        "active_at": now,
        "summary": anomaly.summary,
        "details": _details(anomaly),
        "anomaly_types": types + [anomaly.anomaly_type] * (anomaly.anomaly_type not in types),
    }
    if anomaly.samples:
        values["samples"] = list(anomaly.samples[:MAX_SAMPLES])
    if worse:
        values |= {"severity": severity, "anomaly_type": anomaly.anomaly_type,
                   "title": codec.alert_title(anomaly), "fingerprint": anomaly.fingerprint,
                   "lead_template_id": anomaly.lead_template_id}
    conn.execute(_UPDATE_INCIDENT, {"incident": row["id"], **values})
    if growth:
        _count("updated")
    if growth and row["status"] == IncidentState.FIRING.value:
        notices.grow(conn, row["id"], facts_of({**row, **values}), policy.router, now)


def _details(anomaly: Anomaly) -> list[str]:
    """The detectors' sentences and numbers, redacted: what leaves for Slack and email."""
    return [redact(line) for line in codec.finding_lines(anomaly.findings)]


def resolve(conn: Connection, incident_id: str, *, by: str, now: datetime) -> bool:
    """Resolves an open incident and sends its resolved notice wherever it was paged;
    False when it was resolved already (or does not exist)."""
    stmt = (
        ALERTS.update()
        .where(ALERTS.c.id == incident_id, ALERTS.c.status != IncidentState.RESOLVED.value)
        .values(status=IncidentState.RESOLVED.value, resolved_at=now, resolved_by=by)
        .returning(ALERTS.c.id)
    )
    if conn.execute(stmt).first() is None:
        return False
    _count("resolved")
    notices.follow_paged(conn, incident_id, "resolved", now)
    return True


def acknowledge(conn: Connection, incident_id: str, *, by: str, now: datetime) -> bool:
    """Mutes a firing incident until it resolves; its receivers are told who took it.
    False when it is not firing."""
    stmt = (
        ALERTS.update()
        .where(ALERTS.c.id == incident_id, ALERTS.c.status == IncidentState.FIRING.value)
        .values(status=IncidentState.ACKNOWLEDGED.value, acknowledged_at=now,
                acknowledged_by=by)
        .returning(ALERTS.c.id)
    )
    if conn.execute(stmt).first() is None:
        return False
    _count("acknowledged")
    notices.follow_paged(conn, incident_id, "acknowledged", now)
    return True


def _count(event: str) -> None:
    # Counted as the transaction goes; one that rolls back is rare and retried.
    get_metrics().incidents_total.labels(event=event).inc()
