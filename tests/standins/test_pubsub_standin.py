"""The real google-cloud-pubsub clients against PubSubStandIn, over a loopback socket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from google.api_core import exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.types import FlowControl

from tests.standins import pubsub_wire
from tests.standins.pubsub import PubSubStandIn

TOPIC = "projects/logwarden-test/topics/logs"
SUBSCRIPTION = "projects/logwarden-test/subscriptions/ingest"
TIMESTAMP_KEY = "logging.googleapis.com/timestamp"

Clients = tuple[PublisherClient, SubscriberClient]


@pytest.fixture
def clients(standin: PubSubStandIn) -> Iterator[Clients]:
    with PublisherClient() as publisher, SubscriberClient() as subscriber:
        publisher.create_topic(name=TOPIC)
        subscriber.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=1)
        yield publisher, subscriber


class Inbox:
    """Collects what a streaming pull delivers; `decide` acks, nacks or holds each message."""

    def __init__(self, decide: Callable[[Message], None]) -> None:
        self.messages: list[Message] = []
        self.arrivals: list[float] = []
        self._decide = decide
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            self.messages.append(message)
            self.arrivals.append(time.monotonic())
            self._cond.notify_all()
        self._decide(message)

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.messages) >= count, timeout)


@contextmanager
def streaming(subscriber: SubscriberClient, inbox: Inbox) -> Iterator[None]:
    future = subscriber.subscribe(SUBSCRIPTION, inbox, flow_control=FlowControl(max_messages=100))
    try:
        yield
    finally:
        future.cancel()
        future.result(timeout=10)


def publish(publisher: PublisherClient, count: int) -> list[str]:
    futures = [
        publisher.publish(TOPIC, f"entry {i}".encode(), seq=str(i), **{TIMESTAMP_KEY: f"t{i}"})
        for i in range(count)
    ]
    return [f.result(timeout=10) for f in futures]


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.02)
    return predicate()


def test_thousand_messages_stream_through_with_flow_control(
    standin: PubSubStandIn, clients: Clients
) -> None:
    publisher, subscriber = clients
    message_ids = publish(publisher, 1000)
    inbox = Inbox(Message.ack)
    with streaming(subscriber, inbox):
        assert inbox.wait_for(1000, timeout=10)
        assert standin.wait_until_drained(SUBSCRIPTION, timeout=5)
    assert sorted(m.message_id for m in inbox.messages) == sorted(message_ids)
    assert all(m.data == f"entry {m.attributes['seq']}".encode() for m in inbox.messages)
    assert all(m.attributes[TIMESTAMP_KEY] == f"t{m.attributes['seq']}" for m in inbox.messages)
    assert {m.delivery_attempt for m in inbox.messages} == {1}
    assert all(m.publish_time.year >= 2024 for m in inbox.messages)
    assert standin.published_count(TOPIC) == 1000
    assert standin.acked_count(SUBSCRIPTION) == 1000
    assert (standin.outstanding(SUBSCRIPTION), standin.backlog(SUBSCRIPTION)) == (0, 0)
    assert 0 < standin.peak_outstanding(SUBSCRIPTION) <= 100


def test_concurrent_streams_share_one_subscription(
    standin: PubSubStandIn, clients: Clients
) -> None:
    publisher, subscriber = clients
    message_ids = publish(publisher, 300)
    inbox = Inbox(Message.ack)
    with streaming(subscriber, inbox), streaming(subscriber, inbox), streaming(subscriber, inbox):
        assert eventually(lambda: standin.open_streams() == 3)
        assert inbox.wait_for(300, timeout=10)
        assert standin.wait_until_drained(SUBSCRIPTION, timeout=5)
    assert sorted(m.message_id for m in inbox.messages) == sorted(message_ids)
    assert standin.acked_count(SUBSCRIPTION) == 300


def test_nacked_message_is_redelivered(standin: PubSubStandIn, clients: Clients) -> None:
    publisher, subscriber = clients
    publish(publisher, 1)
    inbox = Inbox(lambda m: m.nack() if m.delivery_attempt == 1 else m.ack())
    with streaming(subscriber, inbox):
        assert inbox.wait_for(2, timeout=5)
        assert standin.wait_until_drained(SUBSCRIPTION, timeout=5)
    assert [m.delivery_attempt for m in inbox.messages] == [1, 2]
    assert len({m.message_id for m in inbox.messages}) == 1
    assert standin.acked_count(SUBSCRIPTION) == 1


@pytest.mark.parametrize("standin", [{"max_ack_deadline": 0.5}], indirect=True)
def test_message_held_past_its_deadline_is_redelivered(
    standin: PubSubStandIn, clients: Clients
) -> None:
    publisher, subscriber = clients
    publish(publisher, 1)
    inbox = Inbox(lambda m: m.ack() if m.delivery_attempt > 1 else None)
    with streaming(subscriber, inbox):
        assert inbox.wait_for(2, timeout=10)
        assert standin.wait_until_drained(SUBSCRIPTION, timeout=5)
    first, second = inbox.messages[:2]
    assert (first.message_id, first.delivery_attempt) == (second.message_id, 1)
    assert second.delivery_attempt == 2
    assert inbox.arrivals[1] - inbox.arrivals[0] >= 0.3
    assert standin.acked_count(SUBSCRIPTION) == 1


def test_unary_pull_leases_nacks_and_expires(standin: PubSubStandIn, clients: Clients) -> None:
    publisher, subscriber = clients
    publish(publisher, 3)
    first = subscriber.pull(subscription=SUBSCRIPTION, max_messages=10).received_messages
    assert [m.delivery_attempt for m in first] == [1, 1, 1]
    assert (standin.outstanding(SUBSCRIPTION), standin.backlog(SUBSCRIPTION)) == (3, 0)
    subscriber.acknowledge(subscription=SUBSCRIPTION, ack_ids=[first[0].ack_id])
    subscriber.modify_ack_deadline(
        subscription=SUBSCRIPTION, ack_ids=[first[1].ack_id], ack_deadline_seconds=0
    )
    assert (standin.outstanding(SUBSCRIPTION), standin.backlog(SUBSCRIPTION)) == (1, 1)
    again = subscriber.pull(subscription=SUBSCRIPTION, max_messages=10).received_messages
    assert [(m.message.message_id, m.delivery_attempt) for m in again] == [
        (first[1].message.message_id, 2)
    ]
    subscriber.acknowledge(subscription=SUBSCRIPTION, ack_ids=[again[0].ack_id])
    assert eventually(lambda: standin.backlog(SUBSCRIPTION) == 1, timeout=3)  # 1 s deadline
    expired = subscriber.pull(subscription=SUBSCRIPTION, max_messages=10).received_messages
    assert [(m.message.message_id, m.delivery_attempt) for m in expired] == [
        (first[2].message.message_id, 2)
    ]
    assert standin.acked_count(SUBSCRIPTION) == 2


def test_messages_of_every_length_arrive_intact(standin: PubSubStandIn, clients: Clients) -> None:
    """The stand-in writes its responses' bytes itself: lengths that take one, two and
    three bytes to encode, from the Publish call and from the store's encoded publish."""
    publisher, subscriber = clients
    datas = [bytes([n % 251]) * n for n in (1, 127, 128, 16_383, 16_384, 300_000)]
    sent = {publisher.publish(TOPIC, d, size=str(len(d))).result(timeout=10): d for d in datas}
    [stored], published_at = standin.store.publish_encoded(
        TOPIC, pubsub_wire.messages([b"x" * 200], {"size": "200"})
    )
    sent[stored] = b"x" * 200
    pulled = subscriber.pull(subscription=SUBSCRIPTION, max_messages=10).received_messages
    assert {m.message.message_id: m.message.data for m in pulled} == sent
    assert all(m.message.attributes == {"size": str(len(m.message.data))} for m in pulled)
    assert {m.delivery_attempt for m in pulled} == {1}
    assert len({m.ack_id for m in pulled}) == len(sent)
    [last] = [m for m in pulled if m.message.message_id == stored]
    assert last.message.publish_time == published_at


def test_closing_the_stream_shuts_down_cleanly(
    standin: PubSubStandIn, clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, subscriber = clients
    caplog.set_level(logging.WARNING)
    with streaming(subscriber, Inbox(Message.ack)):
        assert eventually(lambda: standin.open_streams() == 1)
    assert eventually(lambda: standin.open_streams() == 0)
    publish(publisher, 1)
    assert (standin.backlog(SUBSCRIPTION), standin.outstanding(SUBSCRIPTION)) == (1, 0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_missing_and_duplicate_resources_raise_the_clients_errors(clients: Clients) -> None:
    publisher, subscriber = clients
    with pytest.raises(exceptions.AlreadyExists):
        publisher.create_topic(name=TOPIC)
    with pytest.raises(exceptions.NotFound):
        subscriber.get_subscription(subscription=SUBSCRIPTION + "-missing")
    with pytest.raises(exceptions.NotFound):
        publisher.publish(TOPIC + "-missing", b"x").result(timeout=10)


def test_store_expires_each_lease_when_its_own_deadline_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Expiry looks at the leases only from the earliest deadline on: a lease extended,
    shortened or nacked meanwhile still ends exactly at its own deadline, and no longer
    counts to the stream it was given to."""
    from google.pubsub_v1 import types

    from tests.standins import pubsub_store

    now = [100.0]
    monkeypatch.setattr(pubsub_store.time, "monotonic", lambda: now[0])
    store = pubsub_store.PubSubStore()
    store.create_topic(types.Topic(name=TOPIC))
    store.create_subscription(types.Subscription(name=SUBSCRIPTION, topic=TOPIC,
                                                 ack_deadline_seconds=10))
    store.publish(TOPIC, [types.PubsubMessage(data=b"%d" % n) for n in range(4)])
    stream = object()
    a, b, c, d = store.take(SUBSCRIPTION, 4, 0, holder=stream).ack_ids  # each until 110
    store.modify_deadline(SUBSCRIPTION, [a], 30)  # until 130
    now[0] = 105.0
    store.modify_deadline(SUBSCRIPTION, [b], 2)  # shortened: until 107
    store.modify_deadline(SUBSCRIPTION, [c], 0)  # nacked: back at once
    assert (store.outstanding(SUBSCRIPTION), store.backlog(SUBSCRIPTION)) == (3, 1)
    assert store.held(SUBSCRIPTION, stream) == 3
    now[0] = 106.9
    assert store.backlog(SUBSCRIPTION) == 1
    now[0] = 107.0
    assert store.backlog(SUBSCRIPTION) == 2  # b
    now[0] = 109.9
    assert store.backlog(SUBSCRIPTION) == 2
    now[0] = 110.0
    assert store.backlog(SUBSCRIPTION) == 3  # d
    assert store.held(SUBSCRIPTION, stream) == 1  # a
    store.acknowledge(SUBSCRIPTION, [d])  # stale: d's lease is gone
    again = store.take(SUBSCRIPTION, 1, 0, deadline=5)  # until 115, held by no stream
    now[0] = 114.9
    assert store.outstanding(SUBSCRIPTION) == 2
    now[0] = 115.0
    assert store.outstanding(SUBSCRIPTION) == 1  # only a, until 130
    now[0] = 129.9
    assert store.outstanding(SUBSCRIPTION) == 1
    now[0] = 130.0
    assert (store.outstanding(SUBSCRIPTION), store.backlog(SUBSCRIPTION)) == (0, 4)
    assert store.held(SUBSCRIPTION, stream) == 0
    [redelivered] = types.PullResponse.deserialize(again.response).received_messages
    assert (redelivered.ack_id, redelivered.delivery_attempt) == (again.ack_ids[0], 2)
