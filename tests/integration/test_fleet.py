"""The fleet end to end: Pub/Sub → ingest → Celery prefork workers → Postgres, with faults.

Invariant 1 (nothing is lost: every delivery is processed, a duplicate or a dead letter)
and invariant 2 (at least once in, exactly once out) are checked on the tables.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from google.cloud import pubsub_v1

from pipeline.batch import Batch, Batcher, BatchLimits
from pipeline.entry import LogEntry
from pipeline.storage import Store, make_engine
from pipeline.templates import TemplateMiner
from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import (
    INCIDENT_SERVICE,
    INCIDENT_TYPE,
    MINUTE_NS,
    Corpus,
    build_corpus,
)
from tests.integration.fleet import (
    REDIS_DB_URL,
    FleetConfig,
    IngestRunner,
    WorkerProcess,
    alert_lines,
    entries_of,
    ledger,
    publish,
    query,
    wait_until,
    why_unprocessed,
)
from tests.standins.pubsub import PubSubStandIn
from workers.celery_app import queue_depth
from workers.pubsub_ingest import IngestCounts
from workers.tasks import batch_sender

pytestmark = pytest.mark.integration

StartWorker = Callable[[str], WorkerProcess]


def test_every_delivery_is_accounted_for_exactly_once(
    fleet: FleetConfig,
    start_worker: StartWorker,
    pubsub: PubSubStandIn,
    publisher: pubsub_v1.PublisherClient,
) -> None:
    corpus = build_corpus(seed=7, start_ns=time.time_ns() - 30 * MINUTE_NS)
    assert corpus.published >= 10_000
    start_worker("w1")
    start_worker("w2")
    publish(publisher, TOPIC, corpus.messages)
    runner = IngestRunner(fleet, SUBSCRIPTION)
    assert pubsub.wait_until_drained(SUBSCRIPTION, timeout=90), "not every message was acked"
    counts = runner.stop()
    settle(fleet)

    assert counts.received == corpus.published  # nothing was redelivered
    assert counts.nacked == counts.released == 0
    assert_accounted(fleet, corpus, [counts])
    assert_incident_reported_once(fleet, corpus)
    assert_alerts_unique(fleet)
    lines = alert_lines(fleet.alerts_file)
    assert len(lines) == len({(line["alert_id"], line["revision"]) for line in lines})


# Leases of at most 5 s: what the stopped ingest leaves un-acked comes back quickly.
@pytest.mark.parametrize("pubsub", [{"max_ack_deadline": 5}], indirect=True)
def test_nothing_is_lost_or_doubled_when_a_worker_dies_and_the_ingest_restarts(
    fleet: FleetConfig,
    start_worker: StartWorker,
    pubsub: PubSubStandIn,
    publisher: pubsub_v1.PublisherClient,
) -> None:
    corpus = build_corpus(seed=11, start_ns=time.time_ns() - 30 * MINUTE_NS)
    doomed = start_worker("w1")
    start_worker("w2")
    publish(publisher, TOPIC, corpus.messages)
    first = IngestRunner(fleet, SUBSCRIPTION)
    third = corpus.published // 3
    wait_until(lambda: pubsub.acked_count(SUBSCRIPTION) > third, 90, "a third of it acked")
    counts = [first.stop()]
    assert counts[0].received < corpus.published
    second = IngestRunner(fleet, SUBSCRIPTION)

    orphans = kill_mid_batch(doomed, fleet)
    start_worker("w3")  # the replacement
    assert pubsub.wait_until_drained(SUBSCRIPTION, timeout=90), "not every message was acked"
    counts.append(second.stop())
    settle(fleet)

    assert all(c.received == c.acked + c.nacked for c in counts)
    assert recorded(fleet, orphans) == orphans, "a batch the killed worker held was lost"
    assert_accounted(fleet, corpus, counts)
    assert_incident_reported_once(fleet, corpus)
    assert_alerts_unique(fleet)
    delivered = {line["alert_id"] for line in alert_lines(fleet.alerts_file)}
    assert delivered == {row[0] for row in query(fleet.database_url, "SELECT id FROM alerts")}


def kill_mid_batch(worker: WorkerProcess, fleet: FleetConfig, timeout: float = 60) -> set[str]:
    """SIGKILLs `worker` in the middle of a batch; returns the ids of those it held.

    The pool's children are frozen (SIGSTOP) before asking the main process what they hold,
    so a batch seen running cannot be finished before the ledger is checked and the kill;
    however fast a batch is, it is caught whenever one is running.
    """
    app = fleet.app()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            worker.freeze_pool()
            time.sleep(0.1)  # a commit already on the wire lands now, or never
            active, waiting = worker.batches(app)
            worker.freeze()
            if active - recorded(fleet, active):  # caught in the middle of a batch
                worker.kill()
                return (active | waiting) - recorded(fleet, active | waiting)
            worker.freeze(False)  # the whole group, the pool with it
    finally:
        app.close()
    raise AssertionError(f"worker {worker.name} was never caught mid-batch in {timeout:.0f} s")


def recorded(fleet: FleetConfig, batch_ids: set[str]) -> set[str]:
    """Those of `batch_ids` that are in the batch ledger."""
    sql = "SELECT batch_id FROM processed_batches WHERE batch_id = ANY(:ids)"
    return {row[0] for row in query(fleet.database_url, sql, ids=list(batch_ids))}


def settle(fleet: FleetConfig, timeout: float = 90) -> None:
    """Waits until every task was taken and acked, sends the outbox, waits again."""
    app = fleet.app()
    broker = redis.Redis.from_url(REDIS_DB_URL)
    depths = [queue_depth(app, q) for q in ("detect", "notify")]
    unacked = fleet.prefix + "broker:unacked"

    def quiet() -> bool:
        return all(depth() == 0 for depth in depths) and broker.hlen(unacked) == 0

    try:
        # Steadily: a task a worker just popped is in neither place for a moment.
        wait_until(quiet, timeout, "the workers to finish every batch", steady_s=1.5)
        sent_at = [0.0]

        def sent() -> bool:
            # What beat does every 30 s, more often: an incident's update waits out its
            # route's group interval (60 s) and goes with the next sweep after that.
            if time.monotonic() - sent_at[0] > 5:
                app.send_task("logwarden.notify", queue="notify")
                sent_at[0] = time.monotonic()
            return outbox_settled(fleet) and quiet()

        wait_until(sent, 180, "the outbox to be sent", steady_s=1.5,
                   state=lambda: outbox_state(fleet))
    finally:
        broker.close()
        app.close()


def in_flight(fleet: FleetConfig) -> int:
    """Tasks workers took and have not acked yet."""
    broker = redis.Redis.from_url(REDIS_DB_URL)
    try:
        return int(broker.hlen(fleet.prefix + "broker:unacked"))
    finally:
        broker.close()


def outbox_state(fleet: FleetConfig) -> list[Any]:
    """Each outbox row not settled: what it is, its status, attempts, last error, when due."""
    return query(fleet.database_url,
                 "SELECT channel, kind, revision, status, attempts, last_error, "
                 "next_attempt_at, claimed_until FROM outbox "
                 "WHERE status NOT IN ('sent', 'skipped')")


def outbox_settled(fleet: FleetConfig) -> bool:
    """Every message sent, or skipped on purpose: an update whose incident resolved
    before its group interval ran out goes out as the resolved notice instead."""
    rows = query(fleet.database_url, "SELECT status, count(*) FROM outbox GROUP BY status")
    return {status for status, _ in rows} <= {"sent", "skipped"}


def assert_accounted(fleet: FleetConfig, corpus: Corpus, counts: list[IngestCounts]) -> None:
    batches, entries, processed, duplicates = ledger(fleet.database_url)
    assert processed == corpus.unique_valid, why_unprocessed(fleet, corpus)
    assert entries >= processed + duplicates  # the rest: regrouped redeliveries
    assert duplicates == corpus.duplicates
    (dead_letters,) = query(fleet.database_url, "SELECT count(*) FROM dead_letters")[0]
    assert dead_letters == corpus.malformed
    assert processed + duplicates + dead_letters == corpus.published
    (outcomes,) = query(fleet.database_url, "SELECT count(*) FROM entry_outcomes")[0]
    assert outcomes == processed + duplicates
    totals = Store(make_engine(fleet.database_url)).totals()
    assert (totals.processed, totals.batches) == (processed, batches)
    # Each processed entry counted into exactly one template, once.
    (templated,) = query(fleet.database_url, "SELECT sum(count) FROM templates")[0]
    assert templated == processed


def assert_incident_reported_once(fleet: FleetConfig, corpus: Corpus) -> None:
    """The brute-force burst is reported, only where and when it happened, each line once."""
    rows = query(
        fleet.database_url,
        f"SELECT service, start_ns, end_ns, findings FROM anomalies "
        f"WHERE anomaly_type = '{INCIDENT_TYPE}'",
    )
    assert rows, "the incident was not reported"
    assert {row[0] for row in rows} == {INCIDENT_SERVICE}
    # A batch may reach a span either side of its first entry (see the report on Batcher).
    slack_ns = 2 * MINUTE_NS
    for _, start_ns, end_ns, _ in rows:
        assert corpus.incident_start_ns - slack_ns <= start_ns
        assert end_ns <= corpus.incident_end_ns + slack_ns
    evidence = Counter(
        entry_id
        for *_, findings in rows
        for entry_id in {e for finding in findings for e in finding["evidence"]["entry_ids"]}
    )
    assert evidence and max(evidence.values()) == 1, "an incident line was reported twice"


def assert_alerts_unique(fleet: FleetConfig) -> None:
    """The unique keys hold, and every incident counts exactly the anomalies folded into it."""
    doubled = {
        "anomalies": "SELECT batch_id, anomaly_type FROM anomalies GROUP BY 1, 2",
        "open incidents": "SELECT group_key FROM alerts WHERE status <> 'resolved' GROUP BY 1",
        "outbox": "SELECT alert_id, channel, revision FROM outbox GROUP BY 1, 2, 3",
    }
    for table, grouped in doubled.items():
        assert query(fleet.database_url, grouped + " HAVING count(*) > 1") == [], table
    mismatched = query(
        fleet.database_url,
        "SELECT a.id FROM alerts a LEFT JOIN anomalies n ON n.alert_id = a.id "
        "GROUP BY a.id, a.anomaly_count HAVING count(n.id) <> a.anomaly_count",
    )
    assert mismatched == []
    (orphans,) = query(fleet.database_url, "SELECT count(*) FROM anomalies WHERE alert_id IS NULL")[
        0
    ]
    assert orphans == 0


def test_a_line_gets_the_same_template_in_any_worker(
    fleet: FleetConfig, start_worker: StartWorker
) -> None:
    """Invariant 4: a worker that never saw the history names lines as the one that did."""
    start_ns = time.time_ns() - 30 * MINUTE_NS
    history = batches_of(entries_of(build_corpus(21, start_ns, minutes=12)), 200)
    sample = entries_of(build_corpus(22, start_ns + 12 * MINUTE_NS, minutes=12))[::20]
    later = batches_of(sample, 3)  # batches too small to generalize anything within
    reference = TemplateMiner(max_templates=fleet.settings().template_capacity)
    known = mined_ids(reference, history)
    assert mined_ids(reference, later) <= known  # the history taught every line shape
    # ... which a miner starting afresh lacks: it names some of these lines otherwise.
    assert mined_ids(TemplateMiner(max_templates=reference.max_templates), later) - known

    app = fleet.app()
    send = batch_sender(app)
    first = start_worker("first")
    for batch in history:
        send(batch)
    settle(fleet)
    first.stop()
    assert template_ids(fleet) == known  # the worker mined as the reference did

    start_worker("second")  # a new process: it learned nothing itself
    for batch in later:
        send(batch)
    settle(fleet)
    app.close()
    entries = sum(len(b.entries) for b in history + later)
    assert ledger(fleet.database_url)[2] == entries
    assert template_ids(fleet) - known == set()


def batches_of(entries: list[LogEntry], size: int) -> list[Batch]:
    batcher = Batcher(BatchLimits(max_entries=size))
    batches = [b for e in entries for b in batcher.add(e, 0.0)]
    return batches + batcher.flush()


def mined_ids(miner: TemplateMiner, batches: list[Batch]) -> set[str]:
    """The template ids `miner` gives the batches' lines, resolved at each batch's end."""
    ids: set[str] = set()
    for batch in batches:
        mined = [miner.mine(e.message, e.timestamp_ns).template_id for e in batch.entries]
        ids |= {miner.resolve(t) for t in mined}
    return ids


def template_ids(fleet: FleetConfig) -> set[str]:
    return {row[0] for row in query(fleet.database_url, "SELECT id FROM templates")}


def test_a_deep_queue_slows_the_pull_instead_of_filling_redis(
    fleet: FleetConfig,
    start_worker: StartWorker,
    pubsub: PubSubStandIn,
    publisher: pubsub_v1.PublisherClient,
) -> None:
    corpus = build_corpus(seed=13, start_ns=time.time_ns() - 20 * MINUTE_NS, minutes=8)
    publish(publisher, TOPIC, corpus.messages)
    # No worker yet: the detect queue can only grow, up to the ingest's limit.
    runner = IngestRunner(fleet, SUBSCRIPTION, max_queue_depth=3, max_outstanding=300)
    depth = queue_depth(fleet.app())
    wait_until(lambda: depth() >= 3, 60, "the detect queue to fill up to its limit")
    seen = []
    for _ in range(30):  # three seconds of watching
        seen.append(depth())
        time.sleep(0.1)
    assert max(seen) <= 4  # the limit, and the one batch in hand when it was checked
    assert pubsub.peak_outstanding(SUBSCRIPTION) <= 300  # flow control held the rest back
    assert pubsub.backlog(SUBSCRIPTION) > corpus.published // 2  # Pub/Sub keeps the backlog

    start_worker("w1")  # capacity arrives: everything flows through
    assert pubsub.wait_until_drained(SUBSCRIPTION, timeout=120), "not every message was acked"
    counts = runner.stop()
    settle(fleet)
    assert_accounted(fleet, corpus, [counts])
