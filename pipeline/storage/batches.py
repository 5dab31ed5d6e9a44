"""Recording one batch: ledger, templates, anomalies, incidents and outbox in one transaction.

Idempotency rests on the database, not on reads before writes: every insert is
`ON CONFLICT DO NOTHING` (or an atomic upsert) against a real unique constraint, so two
workers recording the same batch, or two batches opening the same alert, cannot both
win; an incident is opened under a partial unique index and locked while it grows.
Rows are touched in a fixed order (templates, lineage, anomalies, incidents, each
sorted by key) so concurrent transactions on Postgres wait for each other rather than
deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.sql.dml import ReturningInsert

from pipeline.anomaly import Anomaly, AnomalyStatus
from pipeline.incidents import IncidentPolicy, group_key
from pipeline.storage import accounting, codec, feedback, incidents
from pipeline.storage.db import dialect_insert, insert_for
from pipeline.storage.models import ANOMALIES, LEDGER, LINEAGE, OUTCOMES, TEMPLATES
from pipeline.storage.records import BatchRecord, BatchResult, EntryOutcome, TemplateRow


def record_batch(
    conn: Connection,
    record: BatchRecord,
    anomalies: Sequence[Anomaly],
    templates: Sequence[TemplateRow],
    lineage: Mapping[str, str],
    *,
    outcomes: Sequence[EntryOutcome],
    policy: IncidentPolicy,
    now: datetime,
    schedule_now: datetime | None = None,
) -> BatchResult:
    """Writes everything one batch produced, inside the caller's transaction. `now`
    stamps the rows; `schedule_now` (the lifecycle's clock, the log's in a replay)
    times the incidents and their messages."""
    due_now = schedule_now or now
    # The ledger row's time and its outcome rows', as the database takes it: converted
    # once (SQLAlchemy's converter cost as much as a statement).
    created_at = accounting.time_for(conn, LEDGER.c.created_at, now)
    claimed = _claim(conn, record, created_at, len(outcomes))
    if claimed is None:
        return BatchResult(already_recorded=True)
    accounting.add_outcomes(conn, record.batch_id, outcomes, created_at, claimed[0])
    _upsert_templates(conn, templates)
    _upsert_lineage(conn, lineage)
    anomalies = [_suppressed(conn, a, now) for a in anomalies]
    fresh = [a for a in anomalies if _insert_anomaly(conn, a, now)]
    alert_of: dict[str, str] = {}
    new_alerts: list[str] = []
    updated: list[str] = []
    live = [a for a in fresh if a.status is not AnomalyStatus.SUPPRESSED]
    for anomaly in sorted(live, key=lambda a: (group_key(a.stream, policy.group_by), a.id)):
        alert_id, opened = incidents.fold(conn, anomaly, policy, due_now)
        (new_alerts if opened else updated).append(alert_id)
        conn.execute(_SET_INCIDENT, {"anomaly": anomaly.id, "incident": alert_id})
        alert_of[anomaly.id] = alert_id
    return BatchResult(
        already_recorded=False,
        new_anomaly_ids=tuple(a.id for a in fresh),
        new_alert_ids=tuple(dict.fromkeys(new_alerts)),
        updated_alert_ids=tuple(dict.fromkeys(u for u in updated if u not in new_alerts)),
        alert_of=alert_of,
    )


def _suppressed(conn: Connection, anomaly: Anomaly, now: datetime) -> Anomaly:
    """The anomaly marked suppressed when feedback said its template is expected here."""
    if feedback.suppresses(conn, anomaly, now):
        return replace(anomaly, status=AnomalyStatus.SUPPRESSED)
    return anomaly


def _claim(conn: Connection, record: BatchRecord, created_at: object,
           outcomes: int) -> tuple[Any, ...] | None:
    """Inserts the ledger row, of time `created_at` (`accounting.time_for`); None when
    the batch is (being) recorded by someone else. Otherwise, on SQLite, the rowid its
    `outcomes` outcome rows will start at (None for no rows)."""
    values = (record.batch_id, record.stream, record.entries, record.processed,
              record.duplicates, record.start_ns, record.end_ns, created_at)
    if conn.dialect.name == "postgresql":  # its outcome rows need no rowids
        row = conn.exec_driver_sql(_claim_sql(conn.dialect.paramstyle), values).first()
        return None if row is None else (None,)
    with accounting.driver_cursor(conn) as cursor:  # SQLAlchemy's part was 0.1 ms of 0.17
        claimed = cursor.execute(_CLAIM_SQLITE, (*values, outcomes, outcomes, outcomes))
        return cast("tuple[Any, ...] | None", claimed.fetchone())


# The per-batch statements are plain driver SQL, written once per parameter style: the
# same text runs on SQLite and Postgres (both spell ON CONFLICT and RETURNING alike), and
# SQLAlchemy's work on each execution (parameters, result set-up) cost more than SQLite
# takes to run the statement.
@cache
def _claim_sql(paramstyle: str) -> str:
    marks = ", ".join([accounting.placeholder(paramstyle)] * 8)
    return (f"INSERT INTO {LEDGER.name} ({_LEDGER_COLUMNS}) VALUES ({marks}) "
            "ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id")


_LEDGER_COLUMNS = "batch_id, stream, entries, processed, duplicates, start_ns, end_ns, created_at"
# On SQLite the claim also writes the rowids its outcome rows will take: they follow the
# table's largest, read by the claim itself, which holds the database's write lock (no
# one else adds rows before the batch commits). One statement for what a read of the
# largest rowid and an UPDATE of the ledger row did after the claim. Each read of it a
# scalar subquery, which SQLite answers from the table's last page: from a subquery in
# FROM it scanned a whole index.
_TOP_ROW = f"(SELECT ifnull(max(rowid), 0) FROM {OUTCOMES.name})"
_CLAIM_SQLITE = (
    f"INSERT INTO {LEDGER.name} ({_LEDGER_COLUMNS}, first_outcome_row, last_outcome_row) "
    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? > 0 THEN {_TOP_ROW} + 1 END, "
    f"CASE WHEN ? > 0 THEN {_TOP_ROW} + ? END) "
    "ON CONFLICT (batch_id) DO NOTHING RETURNING first_outcome_row")


def _upsert_templates(conn: Connection, templates: Sequence[TemplateRow]) -> None:
    merged: dict[str, TemplateRow] = {}
    for row in templates:  # Postgres refuses to upsert one key twice in one statement
        seen = merged.get(row.id)
        merged[row.id] = row if seen is None else _merge(seen, row)
    if not merged:
        return
    rows = [(t.id, t.text, t.count, t.first_seen_ns, t.last_seen_ns)
            for t in (merged[key] for key in sorted(merged))]
    sql = _templates_sql(conn.dialect.paramstyle)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(sql, rows)
    else:  # SQLAlchemy's part of an executemany was as long as SQLite's upserts
        with accounting.driver_cursor(conn) as cursor:
            cursor.executemany(sql, rows)


@cache
def _templates_sql(paramstyle: str) -> str:
    """Counts added, first and last seen widened; the text is the newest."""
    marks = ", ".join([accounting.placeholder(paramstyle)] * 5)
    t = TEMPLATES.name
    return (f"INSERT INTO {t} (id, text, count, first_seen_ns, last_seen_ns) VALUES ({marks}) "
            "ON CONFLICT (id) DO UPDATE SET text = excluded.text, "
            f"count = {t}.count + excluded.count, "
            f"first_seen_ns = CASE WHEN excluded.first_seen_ns < {t}.first_seen_ns "
            f"THEN excluded.first_seen_ns ELSE {t}.first_seen_ns END, "
            f"last_seen_ns = CASE WHEN excluded.last_seen_ns > {t}.last_seen_ns "
            f"THEN excluded.last_seen_ns ELSE {t}.last_seen_ns END")


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
    inserted = conn.execute(_anomaly_insert(conn.dialect.name), codec.anomaly_values(anomaly, now))
    return inserted.first() is not None


# Each anomaly's statements are built once (per dialect) and run with its values: building
# them for every anomaly cost more than running them.
@cache
def _anomaly_insert(dialect: str) -> ReturningInsert[tuple[str]]:
    stmt = dialect_insert(dialect, ANOMALIES)
    return stmt.on_conflict_do_nothing(index_elements=[ANOMALIES.c.id]).returning(ANOMALIES.c.id)


_SET_INCIDENT = (update(ANOMALIES).where(ANOMALIES.c.id == bindparam("anomaly"))
                 .values(alert_id=bindparam("incident")))
