"""The outbox stage against real receivers: claims just before sending, slow receivers,
senders that die mid-send, retries and idempotency keys."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import make_url

import migrations
from alerting.alert import AlertMessage
from alerting.backoff import MAX_ATTEMPTS
from alerting.console import MemoryNotifier
from alerting.email import EmailNotifier
from alerting.notifier import DeliveryResult, delivered, retry_later
from alerting.outbox import DeliveryPolicy, DeliveryReport, deliver_due
from alerting.slack import SlackNotifier
from pipeline.entry import StreamKey
from pipeline.storage import Store, make_engine
from tests.alerting.conftest import SmtpStandIn, WebhookReply, WebhookStandIn
from tests.pipeline.test_storage import START, make_anomaly, record

HOUR_NS = 3600 * 1_000_000_000
START_NS = int(START.timestamp()) * 1_000_000_000
SHORT = DeliveryPolicy(lease=timedelta(seconds=0.6))


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url))  # the real clock: leases must run out
    yield store
    store.close()


def add_alerts(store: Store, count: int, channels: tuple[str, ...] = ("slack",)) -> list[str]:
    ids = []
    for i in range(count):
        # One stream each: incidents of their own, all open at once.
        stream = StreamKey("shop-prod", "k8s_container", f"svc-{i}")
        anomaly = make_anomaly(f"b{i}", start_ns=START_NS + i * HOUR_NS, stream=stream)
        ids += record(store, f"b{i}", [anomaly], channels=channels).new_alert_ids
    return ids


def test_a_receiver_slower_than_the_lease_gets_each_message_once(
    store: Store, webhook: WebhookStandIn
) -> None:
    """Two sweeps at once against a webhook that answers after 1.5 s, with claims that
    would lapse after 0.6 s if the sender did not renew them."""
    alert_ids = add_alerts(store, 3)
    webhook.default = WebhookReply(delay_s=1.5)
    slack = SlackNotifier(webhook.url(), timeout_s=5)
    reports: list[DeliveryReport] = []

    def sweep() -> None:
        reports.append(deliver_due(store, {"slack": slack}, policy=SHORT))

    sweeps = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in sweeps:
        thread.start()
    for thread in sweeps:
        thread.join(timeout=30)

    keys = [request.idempotency_key for request in webhook.requests]
    assert sorted(keys) == sorted(f"{alert_id}.slack" for alert_id in alert_ids)
    assert sum(report.sent for report in reports) == 3
    assert [a.attempt for a in store.deliveries()] == [1, 1, 1]


def test_a_sender_that_died_mid_send_leaves_the_message_to_be_sent_again(
    store: Store,
) -> None:
    [alert_id] = add_alerts(store, 1)
    abandoned = store.claim_delivery(SHORT.lease)  # its sender dies before recording
    assert abandoned is not None
    channel = MemoryNotifier("slack")

    assert deliver_due(store, {"slack": channel}, policy=SHORT) == DeliveryReport()
    time.sleep(SHORT.lease.total_seconds() + 0.1)
    assert deliver_due(store, {"slack": channel}, policy=SHORT) == DeliveryReport(sent=1)

    assert channel.keys == [f"{alert_id}.slack"]  # the key the first attempt had too
    assert [(a.attempt, a.status) for a in store.deliveries()] == [(2, "sent")]


def test_a_message_whose_senders_keep_dying_is_given_up(store: Store) -> None:
    add_alerts(store, 1)
    for _ in range(MAX_ATTEMPTS):
        assert store.claim_delivery(timedelta(0)) is not None  # every sender died
    channel = MemoryNotifier("slack")

    report = deliver_due(store, {"slack": channel}, policy=SHORT)

    assert report == DeliveryReport(failed=1) and channel.attempts == []
    [attempt] = store.deliveries()
    assert attempt.status == "failed" and "without a recorded outcome" in (attempt.error or "")


def test_a_failed_attempt_is_retried_later_with_the_same_key(store: Store) -> None:
    [alert_id] = add_alerts(store, 1)
    channel = MemoryNotifier("slack", [retry_later("HTTP 503", retry_after_s=0.5)])
    rng = random.Random(1)

    first = deliver_due(store, {"slack": channel}, policy=SHORT, rng=rng)
    too_soon = deliver_due(store, {"slack": channel}, policy=SHORT, rng=rng)
    time.sleep(0.6)
    later = deliver_due(store, {"slack": channel}, policy=SHORT, rng=rng)

    assert (first, too_soon, later) == (
        DeliveryReport(retrying=1), DeliveryReport(), DeliveryReport(sent=1))
    assert channel.keys == [f"{alert_id}.slack"] * 2


def test_a_sweep_stops_at_its_limit_and_says_there_is_more(store: Store) -> None:
    add_alerts(store, 3)
    channel = MemoryNotifier("slack")
    policy = DeliveryPolicy(lease=SHORT.lease, limit=2)

    assert deliver_due(store, {"slack": channel}, policy=policy) == DeliveryReport(sent=2,
                                                                                    more=True)
    assert deliver_due(store, {"slack": channel}, policy=policy) == DeliveryReport(sent=1)


def test_every_email_attempt_at_one_message_has_the_same_message_id(
    store: Store, smtp: SmtpStandIn
) -> None:
    add_alerts(store, 2, channels=("email",))
    channel = EmailNotifier("127.0.0.1", smtp.port, "logwarden@example.test",
                            ["oncall@example.test"], timeout_s=5)
    first = store.claim_delivery(timedelta(0))  # sent, but its sender died before recording
    assert first is not None
    channel.send(message_for(first.payload), first.idempotency_key)

    assert deliver_due(store, {"email": channel}, policy=SHORT) == DeliveryReport(sent=2)

    ids = [message_from_bytes(raw)["Message-ID"] for _, _, raw in smtp.recorder.received]
    assert len(ids) == 3 and len(set(ids)) == 2
    assert ids[0] in ids[1:]


def message_for(payload: dict[str, object]) -> AlertMessage:
    return AlertMessage.from_payload(payload)


class DatabaseGoesAwayDuringSend:
    """A channel that delivers while the database refuses connections (its existing
    ones cut), and lets them back in after `away_s`: the outcome must still be recorded
    as sent, not sent again."""

    name = "slack"

    def __init__(self, url: str, away_s: float) -> None:
        self.url, self.away_s, self.sends = make_url(url), away_s, 0

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        self.sends += 1
        self._allow(False)
        threading.Timer(self.away_s, self._allow, args=(True,)).start()
        return delivered()

    def _allow(self, allowed: bool) -> None:
        admin = make_engine(str(self.url.set(database="postgres")), isolation_level="AUTOCOMMIT")
        name = self.url.database
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}'))
            if not allowed:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name"), {"name": name})
        admin.dispose()


@pytest.mark.integration
def test_an_outcome_is_recorded_once_the_database_is_back(pg_url: str) -> None:
    migrations.upgrade(pg_url)
    store = Store(make_engine(pg_url))
    try:
        add_alerts(store, 1)
        channel = DatabaseGoesAwayDuringSend(pg_url, away_s=1.5)

        report = deliver_due(store, {"slack": channel}, policy=SHORT_BUT_PATIENT)

        assert report == DeliveryReport(sent=1) and channel.sends == 1
        assert [(a.attempt, a.status) for a in store.deliveries()] == [(1, "sent")]
    finally:
        store.close()


SHORT_BUT_PATIENT = DeliveryPolicy(lease=timedelta(seconds=10))


def test_deliveries_are_counted_by_receiver_kind_never_by_name(store: Store) -> None:
    def sent(channel: str) -> float:
        labels = {"channel": channel, "status": "sent"}
        return REGISTRY.get_sample_value("logwarden_deliveries_total", labels) or 0.0

    before = sent("slack")
    add_alerts(store, 2, channels=("slack:oncall",))
    oncall = MemoryNotifier("slack:oncall")
    assert deliver_due(store, {"slack:oncall": oncall}, policy=SHORT) == DeliveryReport(sent=2)
    assert len(oncall.attempts) == 2
    assert sent("slack") == before + 2 and sent("slack:oncall") == 0
