"""Recording one batch: ledger, templates, anomalies, alerts and outbox in one transaction.

Idempotency rests on the database, not on reads before writes: every insert is
`ON CONFLICT DO NOTHING` (or an atomic upsert) against a real unique constraint, so two
workers recording the same batch, or two batches opening the same alert, cannot both
win. Rows are touched in a fixed order (templates, lineage, anomalies, alerts, each
sorted by key) so concurrent transactions on Postgres wait for each other rather than
deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime

from sqlalchemy import Connection, String, case, literal, update

from pipeline.anomaly import Anomaly
from pipeline.storage import accounting, codec
from pipeline.storage.db import insert_for
from pipeline.storage.models import ALERTS, ANOMALIES, LEDGER, LINEAGE, OUTBOX, TEMPLATES
from pipeline.storage.records import (
    BatchRecord,
    BatchResult,
    EntryOutcome,
    OutboxStatus,
    TemplateRow,
)


def record_batch(
    conn: Connection,
    record: BatchRecord,
    anomalies: Sequence[Anomaly],
    templates: Sequence[TemplateRow],
    lineage: Mapping[str, str],
    *,
    outcomes: Sequence[EntryOutcome],
    alert_window_s: float,
    channels: Sequence[str],
    now: datetime,
) -> BatchResult:
    """Writes everything one batch produced, inside the caller's transaction."""
    if not _claim(conn, record, now):
        return BatchResult(already_recorded=True)
    accounting.add_outcomes(conn, record.batch_id, outcomes, now)
    _upsert_templates(conn, templates)
    _upsert_lineage(conn, lineage)
    fresh = [a for a in anomalies if _insert_anomaly(conn, a, now)]
    alert_of: dict[str, str] = {}
    new_alerts: list[str] = []
    updated: list[str] = []
    keyed = [(_alert_key(a, alert_window_s), a) for a in fresh]
    for (alert_id, window_start), anomaly in sorted(keyed, key=lambda pair: pair[0]):
        if _open_alert(conn, anomaly, alert_id, window_start, channels, now):
            new_alerts.append(alert_id)
        else:
            _add_to_alert(conn, anomaly, alert_id)
            updated.append(alert_id)
        conn.execute(
            update(ANOMALIES).where(ANOMALIES.c.id == anomaly.id).values(alert_id=alert_id)
        )
        alert_of[anomaly.id] = alert_id
    return BatchResult(
        already_recorded=False,
        new_anomaly_ids=tuple(a.id for a in fresh),
        new_alert_ids=tuple(new_alerts),
        updated_alert_ids=tuple(updated),
        alert_of=alert_of,
    )


def _claim(conn: Connection, record: BatchRecord, now: datetime) -> bool:
    """Inserts the ledger row; False when the batch is (being) recorded by someone else."""
    values = {**asdict(record), "created_at": now}
    stmt = (
        insert_for(conn, LEDGER)
        .values(values)
        .on_conflict_do_nothing(index_elements=[LEDGER.c.batch_id])
    )
    return conn.execute(stmt.returning(LEDGER.c.batch_id)).first() is not None


def _upsert_templates(conn: Connection, templates: Sequence[TemplateRow]) -> None:
    merged: dict[str, TemplateRow] = {}
    for row in templates:  # Postgres refuses to upsert one key twice in one statement
        seen = merged.get(row.id)
        merged[row.id] = row if seen is None else _merge(seen, row)
    if not merged:
        return
    stmt = insert_for(conn, TEMPLATES)
    new, old = stmt.excluded, TEMPLATES.c
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.id],
        set_={
            "text": new.text,
            "count": old.count + new.count,
            "first_seen_ns": case(
                (new.first_seen_ns < old.first_seen_ns, new.first_seen_ns), else_=old.first_seen_ns
            ),
            "last_seen_ns": case(
                (new.last_seen_ns > old.last_seen_ns, new.last_seen_ns), else_=old.last_seen_ns
            ),
        },
    )
    conn.execute(stmt, [asdict(merged[key]) for key in sorted(merged)])


def _merge(a: TemplateRow, b: TemplateRow) -> TemplateRow:
    return replace(
        b,
        count=a.count + b.count,
        first_seen_ns=min(a.first_seen_ns, b.first_seen_ns),
        last_seen_ns=max(a.last_seen_ns, b.last_seen_ns),
    )


def _upsert_lineage(conn: Connection, lineage: Mapping[str, str]) -> None:
    if not lineage:
        return
    stmt = insert_for(conn, LINEAGE)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LINEAGE.c.old_id], set_={"new_id": stmt.excluded.new_id}
    )
    conn.execute(stmt, [{"old_id": old, "new_id": lineage[old]} for old in sorted(lineage)])


def _insert_anomaly(conn: Connection, anomaly: Anomaly, now: datetime) -> bool:
    stmt = insert_for(conn, ANOMALIES).values(codec.anomaly_values(anomaly, now))
    stmt = stmt.on_conflict_do_nothing(index_elements=[ANOMALIES.c.id])
    return conn.execute(stmt.returning(ANOMALIES.c.id)).first() is not None


def _alert_key(anomaly: Anomaly, window_s: float) -> tuple[str, int]:
    window_start = codec.window_start_ns(anomaly.start_ns, window_s)
    return codec.alert_id_for(anomaly.fingerprint, window_start), window_start


def _open_alert(
    conn: Connection,
    anomaly: Anomaly,
    alert_id: str,
    window_start: int,
    channels: Sequence[str],
    now: datetime,
) -> bool:
    """Creates the alert and its outbox rows; False when the alert already exists."""
    values = codec.alert_values(anomaly, alert_id, window_start)
    # No conflict target: a clash on the id or on (fingerprint, window) is the same alert.
    stmt = insert_for(conn, ALERTS).values(values).on_conflict_do_nothing()
    if conn.execute(stmt.returning(ALERTS.c.id)).first() is None:
        return False
    payload = codec.alert_payload(anomaly, alert_id)
    rows = [
        {
            "alert_id": alert_id,
            "channel": channel,
            "kind": "alert",
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "payload": payload,
            "created_at": now,
        }
        for channel in sorted(set(channels))
    ]
    if rows:
        outbox = insert_for(conn, OUTBOX).on_conflict_do_nothing(
            index_elements=[OUTBOX.c.alert_id, OUTBOX.c.channel, OUTBOX.c.kind]
        )
        conn.execute(outbox, rows)
    return True


def _add_to_alert(conn: Connection, anomaly: Anomaly, alert_id: str) -> None:
    """Counts one more anomaly into an existing alert, atomically (no read first)."""
    col = ALERTS.c
    current_rank = case(
        {str(s): rank for s, rank in codec.SEVERITY_RANK.items()}, value=col.severity, else_=-1
    )
    conn.execute(
        update(ALERTS)
        .where(col.id == alert_id)
        .values(
            anomaly_count=col.anomaly_count + 1,
            first_seen_ns=case(
                (col.first_seen_ns > anomaly.start_ns, anomaly.start_ns), else_=col.first_seen_ns
            ),
            last_seen_ns=case(
                (col.last_seen_ns < anomaly.end_ns, anomaly.end_ns), else_=col.last_seen_ns
            ),
            severity=case(
                (
                    current_rank < codec.SEVERITY_RANK[anomaly.severity],
                    literal(str(anomaly.severity), String),
                ),
                else_=col.severity,
            ),
        )
    )
