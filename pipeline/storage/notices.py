"""The messages of an incident: which receivers get which message, and when.

Every message is one outbox row per receiver with the incident's next `revision`; its
content is rendered from the incident when it is sent (`render`), so a page that waited
tells the incident as it is then. A receiver with a message still waiting gets no other
for growth: that one will carry it. Per (incident, receiver) messages go in revision order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from pipeline.incidents import IncidentFacts, MessageKind, Router, Target
from pipeline.storage.db import insert_for
from pipeline.storage.models import ALERTS, DELIVERIES, OUTBOX
from pipeline.storage.records import OutboxStatus

WAITING = (OutboxStatus.PENDING.value, OutboxStatus.RETRYING.value)
# A first page that went out, or may still go out: where follow-ups (ack, resolve) go.
PAGED = (OutboxStatus.SENT.value, *WAITING)


@dataclass(frozen=True, slots=True)
class ReceiverState:
    """What one receiver has of one incident so far."""

    waiting: bool  # a firing or update message not yet sent and not being sent
    last_due: datetime | None  # when its latest message was due


def page(conn: Connection, incident_id: str, facts: IncidentFacts, router: Router,
         now: datetime) -> int:
    """The first page of a new incident (revision 1) to each of its receivers."""
    rows = [_row(incident_id, t.receiver, MessageKind.FIRING, 1,
                 now + timedelta(seconds=t.group_wait_s), now)
            for t in router.targets(facts)]
    return _insert(conn, rows)


def grow(conn: Connection, incident_id: str, facts: IncidentFacts, router: Router,
         now: datetime) -> int:
    """An update to each receiver (a first page to a receiver new to it, when the
    incident now matches another route), no sooner than the route's group interval
    after its last message; none where a message is still waiting."""
    states = receiver_states(conn, incident_id)
    plans: list[tuple[Target, MessageKind, datetime]] = []
    for target in router.targets(facts):
        state = states.get(target.receiver)
        if state is None:
            plans.append((target, MessageKind.FIRING,
                          now + timedelta(seconds=target.group_wait_s)))
        elif not state.waiting:
            earliest = (state.last_due or now) + timedelta(seconds=target.group_interval_s)
            plans.append((target, MessageKind.UPDATE, max(now, earliest)))
    return _enqueue(conn, incident_id, [(t.receiver, kind, due) for t, kind, due in plans], now)


def follow_paged(conn: Connection, incident_id: str, kind: str, now: datetime) -> int:
    """`kind` (acknowledged, resolved) at once to every receiver that was paged."""
    col = OUTBOX.c
    paged = conn.execute(
        select(col.channel).distinct()
        .where(col.alert_id == incident_id, col.kind == MessageKind.FIRING.value,
               col.status.in_(PAGED))
        .order_by(col.channel)
    ).scalars().all()
    _due_now(conn, incident_id, paged, now)
    return _enqueue(conn, incident_id, [(r, MessageKind(kind), now) for r in paged], now)


def _due_now(conn: Connection, incident_id: str, receivers: Sequence[str],
             now: datetime) -> None:
    """Makes the updates still held for a group interval due now. They go in order
    before the follow-up, where the sender settles them as muted, so an acknowledgement
    or resolved notice does not wait out a group interval behind them."""
    col = OUTBOX.c
    conn.execute(
        OUTBOX.update()
        .where(col.alert_id == incident_id, col.channel.in_(receivers),
               col.kind == MessageKind.UPDATE.value, col.status.in_(WAITING),
               col.claimed_until.is_(None), col.next_attempt_at > now)
        .values(next_attempt_at=now))


def repeat(conn: Connection, incident_id: str, facts: IncidentFacts, router: Router,
           now: datetime) -> int:
    """Pages again each receiver whose route repeats and whose last message was sent
    a repeat interval ago (and none waits since)."""
    states = receiver_states(conn, incident_id)
    sent = last_sent(conn, incident_id)
    due: list[tuple[str, MessageKind, datetime]] = []
    for target in router.targets(facts):
        state, at = states.get(target.receiver), sent.get(target.receiver)
        if not target.repeat_interval_s or state is None or state.waiting or at is None:
            continue
        if at + timedelta(seconds=target.repeat_interval_s) <= now:
            due.append((target.receiver, MessageKind.FIRING, now))
    return _enqueue(conn, incident_id, due, now)


def receiver_states(conn: Connection, incident_id: str) -> dict[str, ReceiverState]:
    col = OUTBOX.c
    rows = conn.execute(
        select(col.channel, col.kind, col.status, col.claimed_until, col.next_attempt_at)
        .where(col.alert_id == incident_id).order_by(col.revision)
    ).all()
    states: dict[str, ReceiverState] = {}
    for row in rows:
        seen = states.get(row.channel, ReceiverState(False, None))
        waiting = (row.status in WAITING and row.claimed_until is None
                   and row.kind in (MessageKind.FIRING.value, MessageKind.UPDATE.value))
        states[row.channel] = ReceiverState(seen.waiting or waiting, row.next_attempt_at)
    return states


def last_sent(conn: Connection, incident_id: str) -> dict[str, datetime]:
    """When each receiver last got a message of the incident."""
    col = DELIVERIES.c
    rows = conn.execute(
        select(col.channel, func.max(col.created_at))
        .where(col.alert_id == incident_id, col.status == OutboxStatus.SENT.value)
        .group_by(col.channel)
    ).all()
    return {channel: at for channel, at in rows}


def _enqueue(conn: Connection, incident_id: str,
             plans: Sequence[tuple[str, MessageKind, datetime]], now: datetime) -> int:
    """One message per plan, all with the incident's next revision."""
    if not plans:
        return 0
    revision = conn.execute(
        ALERTS.update().where(ALERTS.c.id == incident_id)
        .values(revision=ALERTS.c.revision + 1).returning(ALERTS.c.revision)
    ).scalar_one()
    return _insert(conn, [_row(incident_id, receiver, kind, revision, due, now)
                          for receiver, kind, due in plans])


def _row(incident_id: str, receiver: str, kind: MessageKind, revision: int, due: datetime,
         now: datetime, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "alert_id": incident_id, "channel": receiver, "kind": kind.value,
        "revision": revision, "status": OutboxStatus.PENDING.value, "attempts": 0,
        "next_attempt_at": due, "last_error": None, "payload": dict(payload or {}),
        "created_at": now,
    }


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    col = OUTBOX.c
    stmt = insert_for(conn, OUTBOX).on_conflict_do_nothing(
        index_elements=[col.alert_id, col.channel, col.revision])
    conn.execute(stmt, rows)
    return len(rows)
