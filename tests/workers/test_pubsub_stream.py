"""The ingest's StreamingPull stream: the real client library against the gRPC stand-in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from tests.standins.pubsub import PubSubStandIn
from workers import pubsub_stream
from workers.pubsub_stream import PullStream

TOPIC = "projects/logwarden-test/topics/logs"
SUBSCRIPTION = "projects/logwarden-test/subscriptions/ingest"
log = logging.getLogger(__name__)


class Received:
    """What the stream delivers, in order, as (ack id, data)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()

    def __call__(self, received: Sequence[Any]) -> None:
        with self._cond:
            self.messages.extend((r.ack_id, r.message.data) for r in received)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[str, bytes]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= count, timeout), (
                f"{len(self.messages)} of {count} delivered")
            return list(self.messages)


@pytest.fixture
def subscriber(standin: PubSubStandIn) -> Iterator[SubscriberClient]:
    with PublisherClient() as publisher, SubscriberClient() as client:
        publisher.create_topic(name=TOPIC)
        client.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=10)
        for i in range(0, 300, 100):
            futures = [publisher.publish(TOPIC, f"m{j}".encode()) for j in range(i, i + 100)]
            for future in futures:
                future.result(timeout=30)
        yield client


Start = Callable[..., tuple[PullStream, Received]]


@pytest.fixture
def start(subscriber: SubscriberClient) -> Iterator[Start]:
    streams: list[PullStream] = []

    def start(subscription: str = SUBSCRIPTION, **options: Any) -> tuple[PullStream, Received]:
        received = Received()
        options = {"max_outstanding": 1000, "max_lease_s": 60.0, **options}
        stream = PullStream(subscriber, subscription, received, log=log, **options)
        stream.start()
        streams.append(stream)
        return stream, received

    yield start
    for stream in streams:
        stream.close()


def test_acked_messages_are_gone_and_nacked_ones_come_straight_back(
    standin: PubSubStandIn, start: Start
) -> None:
    stream, received = start()
    first = received.wait_for(300)
    assert sorted(data for _, data in first) == sorted(f"m{i}".encode() for i in range(300))
    stream.nack([ack_id for ack_id, data in first if data == b"m7"])
    stream.ack([ack_id for ack_id, data in first if data != b"m7"])
    again = received.wait_for(301, timeout=10)[300:]
    assert [data for _, data in again] == [b"m7"]  # long before its lease would have lapsed
    stream.ack([again[0][0]])
    assert standin.wait_until_drained(SUBSCRIPTION, timeout=10)
    assert standin.acked_count(SUBSCRIPTION) == 300


def test_flow_control_holds_no_more_than_max_outstanding(
    standin: PubSubStandIn, start: Start
) -> None:
    stream, received = start(max_outstanding=120)
    first = received.wait_for(120)
    time.sleep(1.0)  # the rest wait in Pub/Sub while these are held
    assert len(received.messages) == 120
    assert standin.peak_outstanding(SUBSCRIPTION) <= 120
    stream.ack([ack_id for ack_id, _ in first])
    received.wait_for(240)


def test_the_stream_is_not_read_while_the_held_data_reaches_its_limit(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pubsub_stream, "MAX_OUTSTANDING_BYTES", 100)
    stream, received = start()
    first = received.wait_for(50)  # one response of the stand-in: 50 messages, 140 bytes
    time.sleep(1.0)
    assert len(received.messages) == 50
    stream.ack([ack_id for ack_id, _ in first])
    received.wait_for(100)


@pytest.mark.parametrize("standin", [{"max_ack_deadline": 1.0}], indirect=True)
def test_held_messages_keep_their_leases_until_max_lease_then_come_back(
    standin: PubSubStandIn, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leases of one second (the stand-in's cap), renewed every 0.3 s.
    monkeypatch.setattr(pubsub_stream, "RENEW_EVERY_S", 0.3)
    stream, received = start(max_lease_s=3.0)
    received.wait_for(300)
    time.sleep(2.0)  # twice the lease: renewed, so not delivered again
    assert len(received.messages) == 300
    assert standin.peak_attempts(SUBSCRIPTION) == 1
    # Held past max_lease_s, they are let go and Pub/Sub delivers them again.
    again = received.wait_for(600, timeout=10)[300:]
    assert sorted(data for _, data in again) == sorted(data for _, data in received.messages[:300])
    stream.ack([ack_id for ack_id, _ in again])
    assert standin.wait_until_drained(SUBSCRIPTION, timeout=10)


def test_a_missing_subscription_is_a_failure_not_a_retry(start: Start) -> None:
    stream, _ = start("projects/logwarden-test/subscriptions/nope")
    deadline = time.monotonic() + 10
    while stream.failure is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert isinstance(stream.failure, exceptions.NotFound)


def test_an_unavailable_service_is_retried_and_a_denied_one_is_a_failure(
    standin: PubSubStandIn, start: Start
) -> None:
    standin.book.fail("StreamingPull", grpc.StatusCode.UNAVAILABLE, "the service is away")
    stream, received = start()
    time.sleep(1.5)
    assert stream.failure is None and received.messages == []
    assert standin.book.calls["StreamingPull"] >= 2  # tried again, after a pause
    standin.book.allow("StreamingPull")
    received.wait_for(300)

    standin.book.deny("StreamingPull")
    denied, _ = start()
    deadline = time.monotonic() + 10
    while denied.failure is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert isinstance(denied.failure, exceptions.PermissionDenied)
