"""Read side of the store: what the CLI lists and what the summary counts."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, Connection, func, select

from pipeline.anomaly import Anomaly
from pipeline.storage.codec import anomaly_from_row
from pipeline.storage.models import ALERTS, ANOMALIES, DEAD_LETTERS, DELIVERIES, LEDGER, OUTBOX
from pipeline.storage.records import (
    DeadLetterRow,
    DeliveryAttempt,
    OutboxStatus,
    StoredAlert,
    Totals,
)


def anomalies(
    conn: Connection,
    *,
    service: str | None,
    severity: str | None,
    since_ns: int | None,
    limit: int,
) -> list[Anomaly]:
    col = ANOMALIES.c
    stmt = select(ANOMALIES)
    if service is not None:
        stmt = stmt.where(col.service == service)
    if severity is not None:
        stmt = stmt.where(col.severity == severity)
    if since_ns is not None:
        stmt = stmt.where(col.start_ns >= since_ns)
    stmt = stmt.order_by(col.start_ns.desc(), col.id).limit(limit)
    return [anomaly_from_row(row) for row in conn.execute(stmt).mappings()]


def streams(conn: Connection, *, since_ns: int | None) -> list[str]:
    """Every stream with a batch ending at or after `since_ns`, sorted."""
    query = select(LEDGER.c.stream).distinct().order_by(LEDGER.c.stream)
    if since_ns is not None:
        query = query.where(LEDGER.c.end_ns >= since_ns)
    return list(conn.execute(query).scalars())


def dead_letters(conn: Connection, *, reason: str | None, limit: int) -> list[DeadLetterRow]:
    col = DEAD_LETTERS.c
    stmt = select(DEAD_LETTERS)
    if reason is not None:
        stmt = stmt.where(col.reason == reason)
    stmt = stmt.order_by(col.received_at.desc(), col.id).limit(limit)
    return [DeadLetterRow(**row) for row in conn.execute(stmt).mappings()]


def alerts(
    conn: Connection,
    *,
    status: str | Collection[str] | None,
    severity: str | None,
    since_ns: int | None,
    limit: int,
    service: str | None = None,
    projects: Collection[str] | None = None,
) -> list[StoredAlert]:
    """Incidents, most recently seen first; `projects` scopes them to those tenants."""
    col = ALERTS.c
    stmt = select(ALERTS)
    if status is not None:
        states = [status] if isinstance(status, str) else list(status)
        stmt = stmt.where(col.status.in_(states))
    if severity is not None:
        stmt = stmt.where(col.severity == severity)
    if service is not None:
        stmt = stmt.where(col.service == service)
    if projects is not None:
        stmt = stmt.where(col.project.in_(list(projects)))
    if since_ns is not None:
        stmt = stmt.where(col.last_seen_ns >= since_ns)
    stmt = stmt.order_by(col.last_seen_ns.desc(), col.id).limit(limit)
    return [StoredAlert.from_row(row) for row in conn.execute(stmt).mappings()]


def deliveries(conn: Connection, *, alert_id: str | None, limit: int) -> list[DeliveryAttempt]:
    """Every attempt at every message (skipped ones too), in the order they happened."""
    col, out = DELIVERIES.c, OUTBOX.c
    stmt = select(
        col.outbox_id,
        col.alert_id,
        col.channel,
        col.attempt,
        col.status,
        col.error,
        col.created_at,
        out.kind,
        out.revision,
    ).join(OUTBOX, out.id == col.outbox_id)
    if alert_id is not None:
        stmt = stmt.where(col.alert_id == alert_id)
    stmt = stmt.order_by(col.id).limit(limit)
    return [
        DeliveryAttempt(**{**row, "status": OutboxStatus(row["status"])})
        for row in conn.execute(stmt).mappings()
    ]


def totals(conn: Connection) -> Totals:
    col = LEDGER.c
    sums = conn.execute(
        select(
            func.coalesce(func.sum(col.entries), 0),
            func.coalesce(func.sum(col.processed), 0),
            func.coalesce(func.sum(col.duplicates), 0),
            func.count(),
        )
    ).one()
    by_type = _count_by(conn, ANOMALIES.c.anomaly_type)
    by_reason = _count_by(conn, DEAD_LETTERS.c.reason)
    return Totals(
        entries=int(sums[0]),
        processed=int(sums[1]),
        duplicates=int(sums[2]),
        batches=int(sums[3]),
        dead_letters=sum(by_reason.values()),
        anomalies=sum(by_type.values()),
        alerts=conn.execute(select(func.count()).select_from(ALERTS)).scalar_one(),
        anomalies_by_type=by_type,
        dead_letters_by_reason=by_reason,
        deliveries_by_status=_count_by(conn, OUTBOX.c.status),
        attempts_by_status=_count_by(conn, DELIVERIES.c.status),
    )


def _count_by(conn: Connection, column: ColumnElement[str]) -> dict[str, int]:
    stmt = select(column, func.count()).group_by(column)
    return {str(key): int(count) for key, count in conn.execute(stmt).all()}
