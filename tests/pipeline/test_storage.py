"""The Store on SQLite and on real Postgres: idempotent writes, grouping, outbox, queries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Table, func, select

from pipeline.anomaly import Anomaly, AnomalySeverity, Verdict, anomaly_id, fingerprint
from pipeline.entry import StreamKey
from pipeline.findings import Evidence, Finding
from pipeline.parsing.rejection import Rejection, RejectReason
from pipeline.storage import (
    MAX_RAW_BYTES,
    BatchRecord,
    BatchResult,
    DeadLetterRow,
    Store,
    TemplateRow,
    make_engine,
)
from pipeline.storage.models import ALERTS, ANOMALIES, LEDGER, OUTBOX, TEMPLATES

T = TypeVar("T")
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T0 = int(START.timestamp()) * 1_000_000_000
SECOND = 1_000_000_000
CHECKOUT = StreamKey("shop-prod", "k8s_container", "checkout")
SEARCH = StreamKey("shop-prod", "k8s_container", "search")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url), clock=Clock())
    yield store
    store.close()


def make_anomaly(
    batch_id: str,
    anomaly_type: str = "http_5xx",
    *,
    start_ns: int = T0,
    severity: AnomalySeverity = AnomalySeverity.WARNING,
    stream: StreamKey = CHECKOUT,
    lead: str = "tpl-500",
) -> Anomaly:
    finding = Finding(
        "rules",
        anomaly_type,
        0.9,
        "40% of requests failed with 5xx",
        Evidence(("e1", "e2"), (lead,), {"share": 0.4, "count": 12}),
    )
    return Anomaly(
        id=anomaly_id(batch_id, anomaly_type),
        batch_id=batch_id,
        stream=stream,
        start_ns=start_ns,
        end_ns=start_ns + 30 * SECOND,
        anomaly_type=anomaly_type,
        severity=severity,
        score=0.9,
        summary=finding.summary,
        findings=(finding,),
        fingerprint=fingerprint(stream, anomaly_type, lead),
        lead_template_id=lead,
    )


def record(
    store: Store,
    batch_id: str,
    anomalies: Sequence[Anomaly] = (),
    templates: Sequence[TemplateRow] = (),
    lineage: dict[str, str] | None = None,
    channels: Sequence[str] = ("console", "slack"),
    start_ns: int = T0,
) -> BatchResult:
    batch = BatchRecord(batch_id, str(CHECKOUT), 10, 8, 2, start_ns, start_ns + 30 * SECOND)
    return store.record_batch(
        batch, anomalies, templates, lineage or {}, channels=channels
    )


def count(store: Store, table: Table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def run_together(workers: int, task: Callable[[int], T]) -> list[T]:
    """Runs `task(i)` in `workers` threads released at the same instant."""
    barrier = threading.Barrier(workers)
    results: list[T] = [None] * workers  # type: ignore[list-item]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = task(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_a_batch_is_stored_with_its_anomaly_alert_and_outbox(store: Store) -> None:
    anomaly = make_anomaly("b1")
    templates = [TemplateRow("tpl-500", "GET <*> 500", 3, T0, T0 + 5 * SECOND)]
    result = record(store, "b1", [anomaly], templates, {"tpl-old": "tpl-500"})

    assert not result.already_recorded
    assert result.new_anomaly_ids == (anomaly.id,)
    assert len(result.new_alert_ids) == 1
    assert result.alert_of == {anomaly.id: result.new_alert_ids[0]}
    assert store.anomalies() == [anomaly]  # findings and enums decoded back
    assert count(store, OUTBOX) == 2
    with store.engine.connect() as conn:
        alert_id = conn.execute(select(ANOMALIES.c.alert_id)).scalar_one()
    assert alert_id == result.new_alert_ids[0]


def test_redelivered_batch_changes_nothing(store: Store) -> None:
    anomaly = make_anomaly("b1")
    templates = [TemplateRow("tpl-500", "GET <*> 500", 3, T0, T0 + 5 * SECOND)]
    record(store, "b1", [anomaly], templates)
    before = store.totals()

    again = record(store, "b1", [anomaly], templates)

    assert again == BatchResult(already_recorded=True)
    assert store.totals() == before
    assert before.entries == 10 and before.batches == 1 and before.anomalies == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(TEMPLATES.c.count)).scalar_one() == 3


def test_templates_add_counts_and_widen_first_and_last_seen(store: Store) -> None:
    record(
        store,
        "b1",
        templates=[
            TemplateRow("t", "a <*>", 2, T0 + 10, T0 + 20),
            TemplateRow("t", "a <*>", 1, T0 + 5, T0 + 6),
        ],
    )
    record(store, "b2", templates=[TemplateRow("t", "a <*> b", 4, T0 + 7, T0 + 30)])

    with store.engine.connect() as conn:
        row = conn.execute(select(TEMPLATES)).one()
    assert (row.text, row.count, row.first_seen_ns, row.last_seen_ns) == (
        "a <*> b",
        7,
        T0 + 5,
        T0 + 30,
    )


def test_anomalies_that_keep_coming_fold_into_one_incident(store: Store) -> None:
    first = record(store, "b1", [make_anomaly("b1")])
    later = T0 + 200 * SECOND  # within the quiet period of the one before
    second = record(
        store, "b2", [make_anomaly("b2", start_ns=later, severity=AnomalySeverity.CRITICAL)]
    )
    third = record(store, "b3", [make_anomaly("b3", "crash_loop", start_ns=later + 250 * SECOND,
                                              severity=AnomalySeverity.INFO)])

    assert second.new_alert_ids == () and second.updated_alert_ids == first.new_alert_ids
    assert third.updated_alert_ids == first.new_alert_ids
    [alert] = store.alerts()
    assert alert.id == first.new_alert_ids[0]
    assert alert.anomaly_count == 3 and alert.anomaly_types == ("http_5xx", "crash_loop")
    assert alert.severity == "critical"  # raised by the second, not lowered by the third
    assert (alert.first_seen_ns, alert.last_seen_ns) == (T0, later + 280 * SECOND)
    # The page waits unsent, so it will carry the growth: nothing more is queued.
    assert count(store, OUTBOX) == 2


def test_a_quiet_period_or_another_stream_opens_a_new_incident(store: Store) -> None:
    record(store, "b1", [make_anomaly("b1")])
    record(store, "b2", [make_anomaly("b2", start_ns=T0 + 3600 * SECOND)])
    record(store, "b3", [make_anomaly("b3", stream=SEARCH)])

    assert count(store, ALERTS) == 3
    assert {a.anomaly_count for a in store.alerts()} == {1}
    assert [a.status for a in store.alerts(status="resolved")] == ["resolved"]
    assert store.alerts(status="resolved")[0].resolved_by == "quiet period"


def test_dead_letters_are_stored_once_and_truncated(store: Store) -> None:
    when = START + timedelta(minutes=1)
    big = b"x" * (MAX_RAW_BYTES + 10)
    items = [
        DeadLetterRow.of("invalid_json", "Expecting value", "app.jsonl:3", b"{oops", START),
        DeadLetterRow.of("invalid_json", "Expecting value", "app.jsonl:3", b"{oops", START),
        DeadLetterRow.of("too_large", "entry over 256 KiB", "app.jsonl:9", big, when),
    ]
    assert store.add_dead_letters(items) == 2
    assert store.add_dead_letters(items[:1]) == 0  # redelivered

    newest, oldest = store.dead_letters()
    assert (newest.reason, len(newest.raw), newest.raw_size) == (
        "too_large",
        MAX_RAW_BYTES,
        len(big),
    )
    assert newest.received_at == when and oldest.raw == b"{oops"
    assert store.dead_letters(reason="invalid_json") == [oldest]
    assert store.totals().dead_letters_by_reason == {"invalid_json": 1, "too_large": 1}


def test_a_parser_rejection_becomes_a_dead_letter_once(store: Store) -> None:
    raw = b"\xff\xfe" * MAX_RAW_BYTES
    rejection = Rejection.of(RejectReason.INVALID_UTF8, "byte 0 is not UTF-8", raw, "msg-7")
    row = DeadLetterRow.from_rejection(rejection, START)
    redelivered = DeadLetterRow.from_rejection(rejection, START + timedelta(hours=1))

    assert row.id == redelivered.id
    assert store.add_dead_letters([row]) == 1
    assert store.add_dead_letters([redelivered]) == 0
    [stored] = store.dead_letters(reason="invalid_utf8")
    assert (stored.source, stored.raw_size, stored.raw) == ("msg-7", len(raw), rejection.raw)
    assert stored.received_at == START


def test_anomaly_queries_filter_and_come_newest_first(store: Store) -> None:
    old = make_anomaly("b1", "crash", severity=AnomalySeverity.CRITICAL)
    mid = make_anomaly("b2", start_ns=T0 + 60 * SECOND)
    new = make_anomaly("b3", start_ns=T0 + 120 * SECOND, stream=SEARCH)
    for anomaly in (old, mid, new):
        record(store, anomaly.batch_id, [anomaly], start_ns=anomaly.start_ns)

    assert store.anomalies() == [new, mid, old]
    assert store.anomalies(service="checkout") == [mid, old]
    assert store.anomalies(severity="critical") == [old]
    assert store.anomalies(since_ns=T0 + 60 * SECOND) == [new, mid]
    assert store.anomalies(limit=1) == [new]
    # One incident per stream: the crash and the 5xx a minute later are one.
    assert store.alerts(severity="critical")[0].anomaly_types == ("crash", "http_5xx")
    assert len(store.alerts(since_ns=T0 + 100 * SECOND)) == 1  # last seen at +90 s, +150 s
    assert len(store.alerts(status="firing")) == 2 and store.alerts(status="resolved") == []
    assert store.totals().anomalies_by_type == {"crash": 1, "http_5xx": 2}


def test_a_verdict_is_attached_and_read_back(store: Store) -> None:
    anomaly = make_anomaly("b1")
    record(store, "b1", [anomaly])
    verdict = Verdict("anomaly", "Payments fail", "The card gateway times out", ("fail over",), "m")

    assert store.set_verdict(anomaly.id, verdict)
    assert not store.set_verdict("no-such-anomaly", verdict)
    assert store.anomalies()[0].verdict == verdict


def test_concurrent_recording_of_one_batch_stores_it_once(store: Store) -> None:
    for batch_id in ("b0", "b1", "b2"):

        def record_it(_worker: int, batch_id: str = batch_id) -> BatchResult:
            return record(store, batch_id, [make_anomaly(batch_id)])

        results = run_together(6, record_it)
        assert sum(not r.already_recorded for r in results) == 1
    assert count(store, LEDGER) == 3
    assert count(store, ANOMALIES) == 3
    [alert] = store.alerts()
    assert alert.anomaly_count == 3
    assert count(store, OUTBOX) == 2


def test_concurrent_batches_hitting_one_alert_count_every_anomaly(store: Store) -> None:
    workers = 8
    results = run_together(
        workers,
        lambda i: record(store, f"b{i}", [make_anomaly(f"b{i}", start_ns=T0 + i * SECOND)]),
    )

    assert sum(len(r.new_alert_ids) for r in results) == 1
    [alert] = store.alerts()
    assert alert.anomaly_count == workers
    assert alert.last_seen_ns == T0 + (workers - 1 + 30) * SECOND
    assert count(store, OUTBOX) == 2


def test_concurrent_batches_sharing_a_template_add_up_its_count(store: Store) -> None:
    workers = 8
    run_together(
        workers,
        lambda i: record(
            store, f"b{i}", templates=[TemplateRow("t", "GET <*>", 2, T0 + i, T0 + i)]
        ),
    )

    with store.engine.connect() as conn:
        row = conn.execute(select(TEMPLATES)).one()
    assert (row.count, row.first_seen_ns, row.last_seen_ns) == (2 * workers, T0, T0 + workers - 1)
