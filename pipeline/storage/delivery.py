"""The outbox side of the store: claim one due message at a time, record each outcome.

A sender claims a message just before sending it: the claim counts the attempt and holds
the message for a lease (`claimed_until`), and recording the outcome releases it. The
attempt number is the claim's fencing token: a sender whose lease ran out and whose
message was claimed again cannot overwrite the newer claim's outcome with a failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    case,
    exists,
    literal,
    select,
    update,
)
from sqlalchemy.sql.dml import ReturningUpdate

from pipeline.storage import render
from pipeline.storage.db import insert_for
from pipeline.storage.models import DELIVERIES, OUTBOX
from pipeline.storage.records import OutboxItem, OutboxStatus

WAITING = (OutboxStatus.PENDING.value, OutboxStatus.RETRYING.value)
# What a claim writes over `last_error` when the previous claim was never released.
UNRECORDED = "the previous attempt stopped before its outcome was recorded"
MAX_SKIPS = 200  # muted messages settled by one claim, at most


def _none_waiting_before() -> ColumnElement[bool]:
    """Per (incident, receiver), a message waits until every earlier one is settled."""
    col, earlier = OUTBOX.c, OUTBOX.alias("earlier")
    return ~exists().where(earlier.c.alert_id == col.alert_id,
                           earlier.c.channel == col.channel,
                           earlier.c.revision < col.revision,
                           earlier.c.status.in_(WAITING))


_IN_ORDER = _none_waiting_before()  # built once: building it costs more than running it


def _claimable(now: ColumnElement[datetime]) -> ColumnElement[bool]:
    col = OUTBOX.c
    free = col.claimed_until.is_(None) | (col.claimed_until <= now)
    return col.status.in_(WAITING) & (col.next_attempt_at <= now) & free & _IN_ORDER


def claim_next(conn: Connection, now: datetime, lease: timedelta) -> OutboxItem | None:
    """Claims the oldest due message that should go, rendered from its incident now;
    settles as skipped (with the reason, in the history too) those that should not."""
    for _ in range(MAX_SKIPS):
        row = _claim_one(conn, now, lease)
        if row is None:
            return None
        incident = render.incident(conn, row.alert_id)
        reason = render.mute_reason(conn, incident, row.kind, row.channel, now)
        if reason is None:
            payload = render.payload(conn, incident, row.kind, row.revision, row.channel,
                                     row.payload)
            return OutboxItem(row.id, row.alert_id, row.channel, OutboxStatus(row.status),
                              row.attempts, payload, unrecorded=row.last_error == UNRECORDED,
                              kind=row.kind, revision=row.revision)
        _skip(conn, row, reason, now)
    return None


def _skip(conn: Connection, row: Row[Any], reason: str, now: datetime) -> None:
    col = OUTBOX.c
    conn.execute(update(OUTBOX).where(col.id == row.id).values(
        status=OutboxStatus.SKIPPED.value, claimed_until=None, last_error=reason))
    conn.execute(insert_for(conn, DELIVERIES).values(
        outbox_id=row.id, alert_id=row.alert_id, channel=row.channel, attempt=row.attempts,
        status=OutboxStatus.SKIPPED.value, error=reason, created_at=now))


def _claim_one(conn: Connection, now: datetime, lease: timedelta) -> Row[Any] | None:
    """Claims the oldest due message for `lease`; None when nothing is due and free."""
    return conn.execute(_CLAIM, {"now": now, "until": now + lease}).first()


def _claim_statement() -> ReturningUpdate[Any]:
    """The claim: one statement, so it is atomic on both dialects. The picked id is a
    materialized CTE (as an `IN (subquery)` Postgres may re-run it per row), locked with
    SKIP LOCKED on Postgres so concurrent senders each take a different message; the
    due-and-free condition is checked again in the UPDATE, so a message claimed or sent
    meanwhile by another sender is not claimed twice. Built once, run with the time and
    the lease's end: building it cost six times what running it does when nothing is due.
    """
    col = OUTBOX.c
    now = bindparam("now", type_=col.next_attempt_at.type)
    picked = (
        select(col.id)
        .where(_claimable(now))
        .order_by(col.next_attempt_at, col.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    # SET sees the old values: a claim that was never released left `claimed_until` set.
    note = case((col.claimed_until.is_not(None), literal(UNRECORDED)), else_=col.last_error)
    until = bindparam("until", type_=col.claimed_until.type)
    return (
        update(OUTBOX)
        .where(col.id == picked.c.id, _claimable(now))
        .values(claimed_until=until, attempts=col.attempts + 1, last_error=note)
        .returning(col.id, col.alert_id, col.channel, col.status, col.attempts, col.payload,
                   col.last_error, col.kind, col.revision)
    )


_CLAIM = _claim_statement()


def extend_claim(conn: Connection, outbox_id: int, attempt: int, until: datetime) -> bool:
    """Pushes a held claim's lease to `until`; False when the claim is no longer ours."""
    col = OUTBOX.c
    stmt = (
        update(OUTBOX)
        .where(col.id == outbox_id, col.attempts == attempt, col.status.in_(WAITING),
               col.claimed_until.is_not(None))
        .values(claimed_until=until)
        .returning(col.id)
    )
    return conn.execute(stmt).first() is not None


def record_attempt(
    conn: Connection,
    outbox_id: int,
    attempt: int,
    *,
    ok: bool,
    retryable: bool,
    error: str | None,
    retry_at: datetime | None,
    now: datetime,
    thread_ref: str | None = None,
) -> OutboxStatus | None:
    """Appends attempt `attempt` to `deliveries` and, while the claim holds, moves the
    message to sent, retrying or failed and releases the claim.

    A success is applied whoever holds the message now (it was delivered); a failure only
    by the sender whose claim is current. Returns the message's new status, or None when
    the outcome went to the history alone (the message was claimed again or settled).
    """
    status = (
        OutboxStatus.SENT if ok else OutboxStatus.RETRYING if retryable else OutboxStatus.FAILED
    )
    col = OUTBOX.c
    values: dict[str, object] = {"status": status.value, "claimed_until": None}
    if thread_ref is not None:
        values["thread_ref"] = thread_ref[:512]
    if not ok:
        values["last_error"] = error
    if status is OutboxStatus.RETRYING:
        values["next_attempt_at"] = retry_at or now
    ours = col.status.in_(WAITING) if ok else col.status.in_(WAITING) & (col.attempts == attempt)
    applied = conn.execute(
        update(OUTBOX).where(col.id == outbox_id, ours).values(values).returning(col.id)
    ).first()
    row = conn.execute(select(col.alert_id, col.channel).where(col.id == outbox_id)).first()
    if row is None:
        raise LookupError(f"no outbox message with id {outbox_id}")
    attempt_row = {
        "outbox_id": outbox_id,
        "alert_id": row.alert_id,
        "channel": row.channel,
        "attempt": attempt,
        "status": status.value,
        "error": error,
        "created_at": now,
    }
    conn.execute(insert_for(conn, DELIVERIES).values(attempt_row))
    return status if applied else None
