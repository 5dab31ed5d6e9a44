"""The outbox side of the store: lease due messages, record each attempt's outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from pipeline.storage.db import insert_for
from pipeline.storage.models import DELIVERIES, OUTBOX
from pipeline.storage.records import OutboxItem, OutboxStatus

WAITING = (OutboxStatus.PENDING.value, OutboxStatus.RETRYING.value)


def lease_due(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
    """Due messages, each pushed `lease` into the future so no other worker takes it too.

    One statement, so it is atomic on both dialects. The picked ids are a materialized
    CTE: as an `IN (subquery)` Postgres may re-run the subquery per row and lease more
    than `limit`. On Postgres the picked rows are locked with SKIP LOCKED, so concurrent
    senders share the work instead of queueing for it; the due condition is repeated in
    the UPDATE, so a row leased by another sender meanwhile fails the re-check.
    """
    col = OUTBOX.c
    due = col.status.in_(WAITING) & (col.next_attempt_at <= now)
    picked = (
        select(col.id)
        .where(due)
        .order_by(col.next_attempt_at, col.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        update(OUTBOX)
        .where(col.id == picked.c.id, due)
        .values(next_attempt_at=now + lease)
        .returning(col.id, col.alert_id, col.channel, col.status, col.attempts, col.payload)
    )
    rows = conn.execute(stmt).all()
    items = [
        OutboxItem(r.id, r.alert_id, r.channel, OutboxStatus(r.status), r.attempts, r.payload)
        for r in rows
    ]
    return sorted(items, key=lambda item: item.id)


def record_attempt(
    conn: Connection,
    outbox_id: int,
    *,
    ok: bool,
    retryable: bool,
    error: str | None,
    retry_at: datetime | None,
    now: datetime,
) -> OutboxStatus:
    """Moves the message to sent, retrying or failed and appends the attempt to `deliveries`."""
    status = (
        OutboxStatus.SENT if ok else OutboxStatus.RETRYING if retryable else OutboxStatus.FAILED
    )
    col = OUTBOX.c
    values: dict[str, object] = {"status": status.value, "attempts": col.attempts + 1}
    if not ok:
        values["last_error"] = error
    if status is OutboxStatus.RETRYING:
        values["next_attempt_at"] = retry_at or now
    stmt = (
        update(OUTBOX)
        .where(col.id == outbox_id)
        .values(values)
        .returning(col.alert_id, col.channel, col.attempts)
    )
    row = conn.execute(stmt).first()
    if row is None:
        raise LookupError(f"no outbox message with id {outbox_id}")
    attempt = {
        "outbox_id": outbox_id,
        "alert_id": row.alert_id,
        "channel": row.channel,
        "attempt": row.attempts,
        "status": status.value,
        "error": error,
        "created_at": now,
    }
    conn.execute(insert_for(conn, DELIVERIES).values(attempt))
    return status
