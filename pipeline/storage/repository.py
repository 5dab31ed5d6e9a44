"""Store: the one repository of Logwarden, the same on SQLite and Postgres."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from pipeline.anomaly import Anomaly, Verdict
from pipeline.incidents import IncidentPolicy, StaticRouter
from pipeline.storage import accounting, batches, codec, delivery, queries
from pipeline.storage.db import insert_for
from pipeline.storage.incident_store import IncidentStore
from pipeline.storage.models import ANOMALIES, DEAD_LETTERS, LEDGER
from pipeline.storage.records import (
    BatchRecord,
    BatchResult,
    DeadLetterRow,
    DeliveryAttempt,
    EntryOutcome,
    OutboxItem,
    OutboxStatus,
    StoredAlert,
    TemplateRow,
    Totals,
)

DEFAULT_LEASE = timedelta(minutes=2)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Reads and writes Logwarden's tables; every write is idempotent and safe to repeat.

    `clock` stamps the rows' bookkeeping times (`created_at`); tests pass their own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = _utc_now,
        schedule_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        # Reads that need no transaction go without BEGIN and ROLLBACK on Postgres: two
        # round trips fewer for the one asked every batch. (SQLite begins none for a read.)
        self._reads = (engine.execution_options(isolation_level="AUTOCOMMIT")
                       if engine.dialect.name == "postgresql" else engine)
        self._clock = clock
        # Times incidents, their messages and claims; a replay runs it on the log's time.
        self._schedule = schedule_clock or clock

    def record_batch(
        self,
        record: BatchRecord,
        anomalies: Sequence[Anomaly],
        templates: Sequence[TemplateRow],
        lineage: Mapping[str, str],
        *,
        channels: Sequence[str] = (),
        outcomes: Sequence[EntryOutcome] = (),
        policy: IncidentPolicy | None = None,
    ) -> BatchResult:
        """Records one processed batch in ONE transaction, exactly once.

        Writes the ledger row and the `outcomes` of the deliveries it counts (raising
        `EntriesCountedMeanwhile`, with nothing written, when another batch counted one of
        them since `known_entries` was asked), upserts templates (counts added, first/last
        seen widened) and lineage, inserts the anomalies and folds each new one into the
        open incident of its stream (or service, per `policy`): a new incident pages its
        receivers (`policy.router`, or every one of `channels`), an existing one counts
        the anomaly, takes the higher severity and, when it grew, updates them. When the
        ledger already holds `record.batch_id`, nothing is written and `already_recorded`
        is True.
        """
        chosen = policy or IncidentPolicy(router=StaticRouter(tuple(channels)))
        with self.engine.begin() as conn:
            return batches.record_batch(
                conn,
                record,
                anomalies,
                templates,
                lineage,
                outcomes=outcomes,
                policy=chosen,
                now=self._clock(),
                schedule_now=self._schedule(),
            )

    def known_entries(
        self, delivery_ids: Collection[str], insert_keys: Collection[str]
    ) -> tuple[set[str], set[str]]:
        """Of these, the deliveries some recorded batch counted already, and the insert
        keys some recorded batch processed (so another copy is a duplicate)."""
        with self._reads.connect() as conn:
            return accounting.known(conn, delivery_ids, insert_keys)

    def settled_batches(self, batch_ids: Collection[str]) -> set[str]:
        """Those of `batch_ids` whose entries are safe in the database: the batch is
        recorded, or failed for good and its entries are dead letters. One round trip
        per thousand ids: cheap enough to ask every second."""
        with self.engine.connect() as conn:
            return accounting.settled(conn, batch_ids)

    def audit(self, since: datetime) -> accounting.Audit:
        """Processed, duplicates and dead letters since `since`, and the batches whose
        ledger and outcome rows disagree (one consistent snapshot on Postgres)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return accounting.audit(conn, since)

    def prune_accounting(self, older_than: timedelta, *, chunk: int = 200,
                         budget_s: float = 60.0) -> int:
        """Forgets the ledger batches and entry outcomes recorded more than `older_than`
        ago, a chunk of batches per transaction for at most about `budget_s`; returns how
        many batches went. Keep `older_than` past the subscription's retention: a
        redelivery older than what is kept is no longer recognised as one."""
        before = self._clock() - older_than
        deadline = time.monotonic() + budget_s
        pruned = 0
        while time.monotonic() < deadline:
            with self.engine.begin() as conn:
                gone = accounting.prune(conn, before, chunk)
            pruned += gone
            if gone < chunk:
                break
        return pruned

    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> int:
        """Stores dead letters; returns how many were new (a redelivered one is not)."""
        unique = {item.id: item for item in items}
        if not unique:
            return 0
        table = DEAD_LETTERS
        with self.engine.begin() as conn:
            stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=[table.c.id])
            rows = [asdict(unique[key]) for key in sorted(unique)]
            return len(conn.execute(stmt.returning(table.c.id), rows).all())

    def delete_dead_letters(self, ids: Sequence[str]) -> int:
        """Removes dead letters that were dealt with (replayed); returns how many."""
        if not ids:
            return 0
        with self.engine.begin() as conn:
            stmt = delete(DEAD_LETTERS).where(DEAD_LETTERS.c.id.in_(list(ids)))
            return int(conn.execute(stmt).rowcount)

    def batch_recorded(self, batch_id: str) -> bool:
        """Whether the batch's ledger row exists: its results are stored, all of them."""
        stmt = select(LEDGER.c.batch_id).where(LEDGER.c.batch_id == batch_id)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def set_verdict(self, anomaly_id: str, verdict: Verdict) -> bool:
        """Attaches the LLM's verdict to an anomaly; False when there is no such anomaly."""
        table = ANOMALIES
        stmt = (
            update(table)
            .where(table.c.id == anomaly_id)
            .values(verdict=codec.verdict_json(verdict))
            .returning(table.c.id)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    @property
    def incidents(self) -> IncidentStore:
        """The incident verbs (list, acknowledge, resolve, silences, feedback, sweep)."""
        return IncidentStore(self.engine, self._schedule)

    def claim_delivery(self, lease: timedelta = DEFAULT_LEASE) -> OutboxItem | None:
        """Claims the oldest due message (pending or retrying, `next_attempt_at` passed, no
        live claim) for `lease`, counting the attempt; None when there is none.

        Concurrent senders never hold the same message. A sender that dies before
        `record_attempt` leaves its claim to run out; the message is then claimed again.
        """
        with self.engine.begin() as conn:
            return delivery.claim_next(conn, self._schedule(), lease)

    def extend_claim(self, item: OutboxItem, lease: timedelta = DEFAULT_LEASE) -> bool:
        """Keeps a claim alive while its send goes on; False when it is no longer held."""
        with self.engine.begin() as conn:
            return delivery.extend_claim(conn, item.id, item.attempt, self._schedule() + lease)

    def record_attempt(
        self,
        item: OutboxItem,
        *,
        ok: bool,
        retryable: bool,
        error: str | None,
        retry_at: datetime | None,
        thread_ref: str | None = None,
    ) -> OutboxStatus | None:
        """Records the outcome of the attempt `item` was claimed for; releases the claim.

        ok → sent; not ok and retryable → retrying, due again at `retry_at` (now when
        None); otherwise failed for good with `error` kept. The attempt is appended to
        `deliveries` in any case. `thread_ref` is what the receiver returned to thread
        the incident's later messages under. Returns the new status, or None when the
        claim was no longer held (a later claim or a success decides). LookupError for
        an unknown id.
        """
        with self.engine.begin() as conn:
            return delivery.record_attempt(
                conn,
                item.id,
                item.attempt,
                ok=ok,
                retryable=retryable,
                error=error,
                retry_at=retry_at,
                now=self._schedule(),
                thread_ref=thread_ref,
            )

    def anomalies(
        self,
        service: str | None = None,
        severity: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
    ) -> list[Anomaly]:
        """Stored anomalies, newest first, rebuilt as contract types."""
        with self.engine.connect() as conn:
            return queries.anomalies(
                conn, service=service, severity=severity, since_ns=since_ns, limit=limit
            )

    def streams(self, since_ns: int | None = None) -> list[str]:
        """The streams that logged since `since_ns` (for the scheduled silence check)."""
        with self.engine.connect() as conn:
            return queries.streams(conn, since_ns=since_ns)

    def dead_letters(self, reason: str | None = None, limit: int = 100) -> list[DeadLetterRow]:
        """Stored dead letters, most recently received first."""
        with self.engine.connect() as conn:
            return queries.dead_letters(conn, reason=reason, limit=limit)

    def alerts(
        self,
        status: str | None = None,
        severity: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Alerts, most recently seen first; `since_ns` filters on last seen."""
        with self.engine.connect() as conn:
            return queries.alerts(
                conn, status=status, severity=severity, since_ns=since_ns, limit=limit
            )

    def deliveries(self, alert_id: str | None = None, limit: int = 1000) -> list[DeliveryAttempt]:
        """Delivery attempts in the order they happened."""
        with self.engine.connect() as conn:
            return queries.deliveries(conn, alert_id=alert_id, limit=limit)

    def totals(self) -> Totals:
        """Counts over everything stored (one consistent snapshot on Postgres)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return queries.totals(conn)

    def close(self) -> None:
        self.engine.dispose()
