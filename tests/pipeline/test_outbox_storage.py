"""The outbox on SQLite and real Postgres: claims, leases, fenced outcomes, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from alerting.alert import AlertMessage, DeliveryStatus
from pipeline.storage import OutboxStatus, Store, make_engine
from pipeline.storage.models import OUTBOX
from tests.pipeline.test_storage import START, Clock, make_anomaly, record, run_together

LEASE = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(migrated_db_url: str, clock: Clock) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url), clock=clock)
    yield store
    store.close()


def test_outbox_payload_is_an_alert_message(store: Store) -> None:
    anomaly = make_anomaly("b1")
    [alert_id] = record(store, "b1", [anomaly], channels=["console"]).new_alert_ids

    item = store.claim_delivery(LEASE)
    assert item is not None
    message = AlertMessage.from_payload(item.payload)

    assert set(item.payload) <= set(message.to_payload())  # no field a message drops
    assert (message.alert_id, item.alert_id, item.channel) == (alert_id, alert_id, "console")
    assert item.idempotency_key == f"{alert_id}.console"
    assert message.fingerprint == anomaly.fingerprint
    assert message.first_seen == "2026-11-02T09:00:00Z"
    assert "share=0.4" in message.details[0]


def test_outbox_statuses_are_the_alerting_ones() -> None:
    assert {s.value for s in OutboxStatus} == {s.value for s in DeliveryStatus}


def test_a_claim_takes_one_message_and_holds_it_for_its_lease(store: Store, clock: Clock) -> None:
    record(store, "b1", [make_anomaly("b1")], channels=["console", "slack"])
    first, second = store.claim_delivery(LEASE), store.claim_delivery(LEASE)
    assert first is not None and second is not None and first.id != second.id
    assert (first.attempt, first.status, first.unrecorded) == (1, OutboxStatus.PENDING, False)
    assert store.claim_delivery(LEASE) is None  # both held

    clock.now = START + LEASE - timedelta(seconds=1)
    assert store.claim_delivery(LEASE) is None
    assert store.extend_claim(first, LEASE)  # the first sender is alive and renews
    clock.now = START + LEASE
    again = store.claim_delivery(LEASE)  # the second sender died: its claim ran out
    assert again is not None
    assert (again.id, again.attempt, again.unrecorded) == (second.id, 2, True)
    assert store.claim_delivery(LEASE) is None


def test_outbox_retries_then_sends_and_records_every_attempt(store: Store, clock: Clock) -> None:
    [alert_id] = record(store, "b1", [make_anomaly("b1")], channels=["slack"]).new_alert_ids
    item = store.claim_delivery(LEASE)
    assert item is not None

    retry_at = START + timedelta(seconds=30)
    status = store.record_attempt(item, ok=False, retryable=True, error="HTTP 429",
                                  retry_at=retry_at)
    assert status is OutboxStatus.RETRYING
    clock.now = retry_at - timedelta(seconds=1)
    assert store.claim_delivery(LEASE) is None  # released, but not due yet
    clock.now = retry_at
    again = store.claim_delivery(LEASE)
    assert again is not None
    assert (again.id, again.status, again.attempt, again.unrecorded) == (
        item.id, OutboxStatus.RETRYING, 2, False)

    assert store.record_attempt(again, ok=True, retryable=False, error=None,
                                retry_at=None) is OutboxStatus.SENT
    clock.now = START + timedelta(days=1)
    assert store.claim_delivery(LEASE) is None
    attempts = store.deliveries(alert_id)
    assert [(a.attempt, a.status, a.error) for a in attempts] == [
        (1, OutboxStatus.RETRYING, "HTTP 429"),
        (2, OutboxStatus.SENT, None),
    ]
    totals = store.totals()
    assert totals.deliveries_by_status == {"sent": 1}
    assert totals.attempts_by_status == {"retrying": 1, "sent": 1}


def test_permanent_failure_is_kept_with_its_reason(store: Store, clock: Clock) -> None:
    record(store, "b1", [make_anomaly("b1")], channels=["email"])
    item = store.claim_delivery(LEASE)
    assert item is not None

    status = store.record_attempt(
        item, ok=False, retryable=False, error="550 mailbox unavailable", retry_at=None
    )

    assert status is OutboxStatus.FAILED
    clock.now = START + timedelta(days=30)
    assert store.claim_delivery(LEASE) is None
    with store.engine.connect() as conn:
        row = conn.execute(select(OUTBOX)).one()
    assert (row.status, row.attempts, row.last_error, row.claimed_until) == (
        "failed", 1, "550 mailbox unavailable", None)
    assert [a.status for a in store.deliveries()] == [OutboxStatus.FAILED]
    missing = type(item)(item.id + 1000, item.alert_id, "x", item.status, 1, {})
    with pytest.raises(LookupError):
        store.record_attempt(missing, ok=True, retryable=False, error=None, retry_at=None)


def test_a_late_outcome_cannot_undo_a_newer_claim(store: Store, clock: Clock) -> None:
    """A sender whose lease ran out reports after another claimed the message: its
    failure goes to the history only; a success settles the message whoever holds it."""
    record(store, "b1", [make_anomaly("b1")], channels=["slack"])
    stale = store.claim_delivery(LEASE)
    clock.now = START + LEASE
    current = store.claim_delivery(LEASE)
    assert stale is not None and current is not None and current.attempt == 2
    assert not store.extend_claim(stale, LEASE)

    assert store.record_attempt(stale, ok=False, retryable=True, error="timed out",
                                retry_at=None) is None
    assert store.claim_delivery(LEASE) is None  # still held by the current claim
    assert store.record_attempt(stale, ok=True, retryable=False, error=None,
                                retry_at=None) is OutboxStatus.SENT
    assert store.record_attempt(current, ok=True, retryable=False, error=None,
                                retry_at=None) is None
    assert [(a.attempt, a.status) for a in store.deliveries()] == [
        (1, OutboxStatus.RETRYING), (1, OutboxStatus.SENT), (2, OutboxStatus.SENT)]
    assert store.totals().deliveries_by_status == {"sent": 1}


def test_concurrent_senders_never_claim_one_message_twice(store: Store) -> None:
    for i in range(6):
        record(store, f"b{i}", [make_anomaly(f"b{i}", start_ns=START_NS + i * HOUR)],
               channels=["console", "slack"])

    def claim_all(_: int) -> list[int]:
        claimed = []
        while (item := store.claim_delivery(LEASE)) is not None:
            claimed.append(item.id)
        return claimed

    results = run_together(4, claim_all)
    ids = [i for claimed in results for i in claimed]
    assert len(ids) == 12 and len(set(ids)) == 12


START_NS = int(START.timestamp()) * 1_000_000_000
HOUR = 3600 * 1_000_000_000
