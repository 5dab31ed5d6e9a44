"""Incidents in the store, on SQLite and real Postgres: folding, growth, acknowledge until
resolved, resolved notices where the page went, silences, inhibition, repeats, feedback,
per-receiver order and thread references, tenant scope, and state that outlives the
process that wrote it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from alerting.routes import Route, RouteTree
from pipeline.anomaly import Anomaly, AnomalySeverity
from pipeline.entry import StreamKey
from pipeline.incidents import IncidentPolicy, Matcher
from pipeline.storage import BatchRecord, OutboxItem, OutboxStatus, Store, make_engine
from pipeline.storage.feedback import FeedbackLabel
from pipeline.storage.models import OUTBOX
from tests.pipeline.test_storage import (
    CHECKOUT,
    SEARCH,
    SECOND,
    START,
    T0,
    Clock,
    make_anomaly,
    run_together,
)
from tests.pipeline.test_storage import record as record_batch

LEASE = timedelta(minutes=1)
OTHER_TENANT = StreamKey("bank-prod", "k8s_container", "checkout")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(migrated_db_url: str, clock: Clock) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url), clock=clock)
    yield store
    store.close()


def record(store: Store, anomaly: Anomaly) -> str:
    """Records `anomaly` in a batch of its own, for slack and email; returns its incident."""
    result = record_batch(store, anomaly.batch_id, [anomaly], channels=("slack", "email"))
    return result.alert_of[anomaly.id]


def send_all(store: Store, thread: str | None = None) -> list[OutboxItem]:
    """Claims every due message and records it sent (as a receiver that threads would)."""
    sent = []
    while (item := store.claim_delivery(LEASE)) is not None:
        ref = thread if item.payload["thread_ref"] is None else None
        store.record_attempt(item, ok=True, retryable=False, error=None, retry_at=None,
                             thread_ref=ref and f"{ref}-{item.channel}")
        sent.append(item)
    return sent


def kinds(items: list[OutboxItem]) -> list[tuple[str, str, int]]:
    return [(i.channel, i.kind, i.revision) for i in items]


def test_growth_updates_the_same_incident_in_its_thread(store: Store, clock: Clock) -> None:
    incident = record(store, make_anomaly("b1"))
    first = send_all(store, thread="ts-1")
    assert sorted(kinds(first)) == [("email", "firing", 1), ("slack", "firing", 1)]
    assert {i.payload["thread_ref"] for i in first} == {None}

    # Same type, same severity: counted, nobody told.
    assert record(store, make_anomaly("b2", start_ns=T0 + 60 * SECOND)) == incident
    assert send_all(store) == []
    # A new type at a worse severity: one update per receiver, rendered from the incident now.
    grown = make_anomaly("b3", "crash_loop", start_ns=T0 + 120 * SECOND,
                         severity=AnomalySeverity.CRITICAL)
    assert record(store, grown) == incident
    updates = send_all(store)
    assert sorted(kinds(updates)) == [("email", "update", 2), ("slack", "update", 2)]
    payload = updates[0].payload
    assert (payload["severity"], payload["anomaly_count"]) == ("critical", 3)
    assert payload["anomaly_types"] == ["http_5xx", "crash_loop"]
    assert {i.payload["thread_ref"] for i in updates} == {"ts-1-slack", "ts-1-email"}
    assert {i.idempotency_key for i in updates} == {f"{incident}.slack.r2",
                                                    f"{incident}.email.r2"}


def test_a_page_that_waited_carries_what_came_meanwhile(store: Store) -> None:
    record(store, make_anomaly("b1"))
    record(store, make_anomaly("b2", "crash_loop", start_ns=T0 + 60 * SECOND,
                               severity=AnomalySeverity.CRITICAL))
    pages = send_all(store)
    assert sorted(kinds(pages)) == [("email", "firing", 1), ("slack", "firing", 1)]
    assert {i.payload["severity"] for i in pages} == {"critical"}  # not the frozen warning


def test_acknowledged_mutes_until_resolved_then_the_notice_goes(store: Store) -> None:
    incident = record(store, make_anomaly("b1"))
    send_all(store)
    done = store.incidents.acknowledge(incident, "ana")
    assert done is not None and (done.status, done.acknowledged_by) == ("acknowledged", "ana")
    acked = send_all(store)
    assert sorted(kinds(acked)) == [("email", "acknowledged", 2), ("slack", "acknowledged", 2)]

    record(store, make_anomaly("b2", "crash_loop", start_ns=T0 + 60 * SECOND,
                               severity=AnomalySeverity.CRITICAL))
    assert send_all(store) == []  # grew, but acknowledged: muted

    store.incidents.resolve(incident, "ana")
    resolved = send_all(store)
    assert sorted(kinds(resolved)) == [("email", "resolved", 3), ("slack", "resolved", 3)]
    assert resolved[0].payload["resolved_at"]
    history = store.incidents.history(incident)
    assert [h.kind for h in history if h.channel == "slack"] == [
        "firing", "acknowledged", "resolved"]


def test_a_quiet_period_resolves_with_a_notice_where_the_page_went(store: Store,
                                                                   clock: Clock) -> None:
    incident = record(store, make_anomaly("b1"))
    send_all(store)
    policy = IncidentPolicy(quiet_s=300)
    clock.now = START + timedelta(seconds=200)
    assert store.incidents.sweep(T0 + 200 * SECOND, policy).resolved == ()
    clock.now = START + timedelta(seconds=331)
    assert store.incidents.sweep(T0 + 331 * SECOND, policy).resolved == (incident,)
    assert sorted(kinds(send_all(store))) == [("email", "resolved", 2), ("slack", "resolved", 2)]
    # A new anomaly after it opens a new incident.
    assert record(store, make_anomaly("b2", start_ns=T0 + 400 * SECOND)) != incident


def test_a_backfill_of_old_logs_keeps_one_incident_while_it_grows(store: Store,
                                                                   clock: Clock) -> None:
    """Logs a week old are quiet by the wall clock at once; their incident is not."""
    policy = IncidentPolicy(quiet_s=300)
    clock.now = START + timedelta(days=7)
    now_ns = T0 + 7 * 86_400 * SECOND
    incident = record(store, make_anomaly("b1"))
    clock.now += timedelta(seconds=30)  # the backfill goes on: a sweep, then more of it
    assert store.incidents.sweep(now_ns + 30 * SECOND, policy).resolved == ()
    assert record(store, make_anomaly("b2", start_ns=T0 + 60 * SECOND)) == incident
    clock.now += timedelta(seconds=301)  # the backfill ended: quiet by both clocks
    assert store.incidents.sweep(now_ns + 331 * SECOND, policy).resolved == (incident,)


def test_a_silence_mutes_pages_and_its_expiry_ends_that(store: Store) -> None:
    silence = store.incidents.add_silence([Matcher("service", "checkout")],
                                          duration=timedelta(hours=1), author="ana",
                                          comment="load test")
    muted = record(store, make_anomaly("b1"))
    other = record(store, make_anomaly("b2", stream=SEARCH))
    assert {i.alert_id for i in send_all(store)} == {other}
    history = store.incidents.history(muted)
    assert {(h.status, h.error.split(" (")[0]) for h in history if h.error} == {
        (OutboxStatus.SKIPPED, f"silenced by {silence.id}")}
    assert [s.id for s in store.incidents.silences(active_only=True)] == [silence.id]

    assert store.incidents.expire_silence(silence.id)
    assert store.incidents.silences(active_only=True) == []
    store.incidents.resolve(muted, "ana")
    assert send_all(store) == []  # never paged, so no resolved notice either


def test_a_critical_incident_inhibits_warnings_on_its_service(store: Store) -> None:
    policy = IncidentPolicy(router=RouteTree(Route(("slack",))))
    critical = make_anomaly("b1", "crash_loop", severity=AnomalySeverity.CRITICAL,
                            stream=StreamKey("shop-prod", "cloud_run_revision", "checkout"))
    first = store.record_batch(_batch("b1"), [critical], [], {}, policy=policy)
    warning = make_anomaly("b2")  # checkout too, on another stream: its own incident
    second = store.record_batch(_batch("b2"), [warning], [], {}, policy=policy)
    sent = send_all(store)
    assert [i.alert_id for i in sent] == list(first.new_alert_ids)
    [skipped] = [h for h in store.incidents.history(second.new_alert_ids[0])]
    assert skipped.error == f"inhibited by critical incident {first.new_alert_ids[0]}"


def test_a_route_repeats_a_firing_incident_until_acknowledged(store: Store,
                                                              clock: Clock) -> None:
    policy = IncidentPolicy(router=RouteTree(Route(("slack",), repeat_interval_s=3600)),
                            quiet_s=10**6)
    incident = store.record_batch(_batch("b1"), [make_anomaly("b1")], [], {},
                                  policy=policy).new_alert_ids[0]
    send_all(store)
    clock.now = START + timedelta(minutes=30)
    assert store.incidents.sweep(T0, policy).repeated == 0
    clock.now = START + timedelta(minutes=61)
    assert store.incidents.sweep(T0, policy).repeated == 1
    assert kinds(send_all(store)) == [("slack", "firing", 2)]
    store.incidents.acknowledge(incident, "ana")
    send_all(store)
    clock.now = START + timedelta(hours=5)
    assert store.incidents.sweep(T0, policy).repeated == 0


def test_later_messages_wait_for_the_first_of_their_receiver(store: Store) -> None:
    incident = record(store, make_anomaly("b1"))
    page = store.claim_delivery(LEASE)
    assert page is not None
    store.incidents.resolve(incident, "ana")  # its notice queues behind the page in flight
    other = store.claim_delivery(LEASE)
    assert other is not None and other.channel != page.channel and other.kind == "firing"
    store.record_attempt(other, ok=True, retryable=False, error=None, retry_at=None)
    notice = store.claim_delivery(LEASE)
    assert notice is not None and (notice.channel, notice.kind) == (other.channel, "resolved")
    store.record_attempt(notice, ok=True, retryable=False, error=None, retry_at=None)
    assert store.claim_delivery(LEASE) is None  # page's receiver: still waiting for it
    store.record_attempt(page, ok=True, retryable=False, error=None, retry_at=None)
    last = store.claim_delivery(LEASE)
    assert last is not None and (last.channel, last.kind) == (page.channel, "resolved")


def test_feedback_suppresses_the_template_on_its_stream_and_is_a_label(store: Store) -> None:
    incident = record(store, make_anomaly("b1"))
    given = store.incidents.add_feedback(incident, FeedbackLabel.EXPECTED, author="ana",
                                         comment="nightly batch")
    assert given is not None and given.template_id == "tpl-500"
    store.incidents.resolve(incident, "ana")
    result = record_batch(store, "b2", [make_anomaly("b2", start_ns=T0 + 60 * SECOND)])
    assert result.alert_of == {} and result.new_alert_ids == ()
    assert store.anomalies()[0].status == "suppressed"
    # Another template on the stream still opens one.
    assert record(store, make_anomaly("b3", start_ns=T0 + 90 * SECOND, lead="tpl-other"))
    assert [f.label for f in store.incidents.feedback(stream=str(CHECKOUT))] == ["expected"]


def test_feedback_on_an_incident_without_a_template_suppresses_its_type_until_it_expires(
    store: Store, clock: Clock
) -> None:
    def untemplated(batch_id: str, at_s: int, anomaly_type: str = "http_5xx") -> Anomaly:
        return replace(make_anomaly(batch_id, anomaly_type, start_ns=T0 + at_s * SECOND),
                       lead_template_id=None)

    incident = record(store, untemplated("b1", 0))
    given = store.incidents.add_feedback(incident, FeedbackLabel.EXPECTED, author="ana",
                                         duration=timedelta(hours=1))
    assert given is not None and given.template_id is None
    store.incidents.resolve(incident, "ana")
    assert record_batch(store, "b2", [untemplated("b2", 60)]).alert_of == {}
    assert record(store, untemplated("b3", 90, "latency"))  # another type still opens one
    clock.now += timedelta(hours=2)  # the feedback expired
    assert record(store, untemplated("b4", 7200))
    assert [a.status for a in store.anomalies() if a.batch_id == "b2"] == ["suppressed"]


def test_a_tenant_sees_and_touches_only_its_own_projects(store: Store) -> None:
    mine = record(store, make_anomaly("b1"))
    theirs = record(store, make_anomaly("b2", stream=OTHER_TENANT))
    scoped = store.incidents
    assert [i.id for i in scoped.find(projects={"shop-prod"})] == [mine]
    assert scoped.get(theirs, projects={"shop-prod"}) is None
    assert scoped.acknowledge(theirs, "mallory", projects={"shop-prod"}) is None
    assert scoped.resolve(theirs, "mallory", projects={"shop-prod"}) is None
    assert scoped.add_feedback(theirs, FeedbackLabel.EXPECTED, author="mallory",
                               projects={"shop-prod"}) is None
    assert scoped.get(theirs) is not None and scoped.get(theirs).status == "firing"
    silence = scoped.add_silence([Matcher("service", "checkout")], duration=timedelta(hours=1),
                                 author="bob", comment="x", project="bank-prod")
    assert scoped.silences(projects={"shop-prod"}) == []
    assert not scoped.expire_silence(silence.id, projects={"shop-prod"})
    # A tenant's silence mutes only its own project's incidents.
    assert {i.alert_id for i in send_all(store)} == {mine}


def test_incidents_and_their_messages_outlive_the_process(migrated_db_url: str,
                                                          store: Store) -> None:
    incident = record(store, make_anomaly("b1"))
    send_all(store)
    store.incidents.resolve(incident, "ana")
    store.close()  # the process that wrote it is gone; a new one finds everything
    again = Store(make_engine(migrated_db_url))
    try:
        assert again.incidents.get(incident).status == "resolved"
        assert sorted(kinds(send_all(again))) == [("email", "resolved", 2),
                                                  ("slack", "resolved", 2)]
    finally:
        again.close()


def test_two_writers_racing_open_one_incident(store: Store) -> None:
    results = run_together(6, lambda i: record_batch(
        store, f"b{i}", [make_anomaly(f"b{i}", start_ns=T0 + i * SECOND)]))
    assert sum(len(r.new_alert_ids) for r in results) == 1
    [incident] = store.alerts()
    assert incident.anomaly_count == 6
    with store.engine.connect() as conn:
        assert len(conn.execute(select(OUTBOX.c.channel)).scalars().all()) == 2


def _batch(batch_id: str) -> BatchRecord:
    return BatchRecord(batch_id, str(CHECKOUT), 1, 1, 0, T0, T0 + 30 * SECOND)


def test_group_wait_holds_the_page_and_what_comes_meanwhile_joins_it(store: Store,
                                                                     clock: Clock) -> None:
    policy = IncidentPolicy(router=RouteTree(Route(("slack",), group_wait_s=30,
                                                   group_interval_s=300)))
    store.record_batch(_batch("b1"), [make_anomaly("b1")], [], {}, policy=policy)
    clock.now = START + timedelta(seconds=20)
    grown = make_anomaly("b2", "crash_loop", start_ns=T0 + 20 * SECOND,
                         severity=AnomalySeverity.CRITICAL)
    store.record_batch(_batch("b2"), [grown], [], {}, policy=policy)
    assert store.claim_delivery(LEASE) is None  # still waiting
    clock.now = START + timedelta(seconds=31)
    [page] = send_all(store)
    assert (page.kind, page.payload["severity"], page.payload["anomaly_count"]) == (
        "firing", "critical", 2)
    # Growth after the page: an update no sooner than the group interval after it.
    worse = make_anomaly("b3", "oom", start_ns=T0 + 40 * SECOND,
                         severity=AnomalySeverity.CRITICAL)
    store.record_batch(_batch("b3"), [worse], [], {}, policy=policy)
    clock.now = START + timedelta(seconds=300)
    assert store.claim_delivery(LEASE) is None
    clock.now = START + timedelta(seconds=332)
    assert kinds(send_all(store)) == [("slack", "update", 2)]


def test_a_payload_frozen_by_an_older_version_does_not_hide_the_incident(store: Store) -> None:
    incident = record(store, make_anomaly("b1"))
    record(store, make_anomaly("b2", "crash_loop", start_ns=T0 + 60 * SECOND,
                               severity=AnomalySeverity.CRITICAL))
    frozen = {"severity": "warning", "anomaly_count": 1, "review": "not reviewed"}
    with store.engine.begin() as conn:
        conn.execute(OUTBOX.update().where(OUTBOX.c.alert_id == incident).values(payload=frozen))
    pages = send_all(store)
    assert {(i.payload["severity"], i.payload["anomaly_count"]) for i in pages} == {
        ("critical", 2)}


@pytest.mark.parametrize("verb", ["acknowledge", "resolve"])
def test_an_ack_or_resolve_goes_at_once_past_an_update_held_for_its_group_interval(
    store: Store, clock: Clock, verb: str
) -> None:
    policy = IncidentPolicy(router=RouteTree(Route(("slack",), group_interval_s=300)))
    incident = store.record_batch(_batch("b1"), [make_anomaly("b1")], [], {},
                                  policy=policy).new_alert_ids[0]
    send_all(store)
    clock.now = START + timedelta(seconds=10)
    worse = make_anomaly("b2", "crash_loop", start_ns=T0 + 10 * SECOND,
                         severity=AnomalySeverity.CRITICAL)
    store.record_batch(_batch("b2"), [worse], [], {}, policy=policy)
    assert store.claim_delivery(LEASE) is None  # the update waits for its group interval
    getattr(store.incidents, verb)(incident, "ana")
    kind = {"acknowledge": "acknowledged", "resolve": "resolved"}[verb]
    assert kinds(send_all(store)) == [("slack", kind, 3)]  # the held update: settled, muted
    [held] = [h for h in store.incidents.history(incident) if h.kind == "update"]
    assert (held.status, (held.error or "")[:6]) == ("skipped", "muted:")
