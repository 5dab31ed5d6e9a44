"""In-memory Pub/Sub state with at-least-once delivery and ack deadlines (no gRPC here).

Each subscription keeps, per message, the current delivery attempt and lease. A lease
whose deadline passes (or that is nacked with a deadline of 0) puts the message back at
the head of the backlog; the next delivery gets a new ack id and a higher attempt. Acks
and deadline changes name the current ack id only: a superseded one is ignored.
Expiry is checked lazily, under the one lock, whenever the state is read or changed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from google.protobuf import timestamp_pb2
from google.pubsub_v1 import types

from tests.standins import pubsub_wire

_TICK_SECONDS = 0.05
_DEFAULT_ACK_DEADLINE_SECONDS = 10


class NotFound(KeyError):
    """The topic or subscription named does not exist."""


class AlreadyExists(ValueError):
    """The topic or subscription named exists already."""


@dataclass(slots=True)
class _Record:
    message_id: str
    message: bytes  # as delivered: a ReceivedMessage's encoded message field (pubsub_wire)
    attempts: int = 0
    deadline: float = 0.0
    holder: object = None  # who was given its current lease (a stream), if anyone


class Delivery(NamedTuple):
    """Messages just leased: their ack ids, and the pull response that carries them."""

    ack_ids: list[str]
    response: bytes  # an encoded PullResponse, which is also a StreamingPullResponse


@dataclass
class _Subscription:
    config: types.Subscription
    ready: deque[str] = field(default_factory=deque)  # message ids waiting for delivery
    records: dict[str, _Record] = field(default_factory=dict)  # message id -> record, un-acked
    leases: dict[str, _Record] = field(default_factory=dict)  # ack id -> what it leases
    held: dict[object, int] = field(default_factory=dict)  # holder -> its current leases
    # No lease ends before this (monotonic s): expiry looks at the leases only from then.
    earliest_deadline: float = float("inf")
    acked: int = 0
    peak_outstanding: int = 0
    peak_attempts: int = 0  # the most deliveries any one message took


class PubSubStore:
    """Topics, subscriptions and their messages; every method is thread-safe.

    `max_ack_deadline` (seconds) caps every deadline a client asks for, so tests can
    see lease expiry sooner than the real service's 10 s minimum allows.
    """

    def __init__(self, max_ack_deadline: float | None = None) -> None:
        self._cond = threading.Condition()
        self._max_ack_deadline = max_ack_deadline
        self._topics: dict[str, types.Topic] = {}
        self._published: dict[str, int] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._message_ids = itertools.count(1)
        self._ack_ids = itertools.count(1)

    def create_topic(self, topic: types.Topic) -> types.Topic:
        """Store `topic`; raises AlreadyExists."""
        with self._cond:
            if topic.name in self._topics:
                raise AlreadyExists(topic.name)
            self._topics[topic.name] = topic
            self._published[topic.name] = 0
            return topic

    def get_topic(self, name: str) -> types.Topic:
        """The topic called `name`; raises NotFound."""
        with self._cond:
            if name not in self._topics:
                raise NotFound(name)
            return self._topics[name]

    def delete_topic(self, name: str) -> None:
        """Forget the topic; its subscriptions stay, detached, as on the real service."""
        with self._cond:
            self.get_topic(name)
            del self._topics[name]
            for sub in self._subscriptions.values():
                if sub.config.topic == name:
                    sub.config.topic = "_deleted-topic_"

    def create_subscription(self, config: types.Subscription) -> types.Subscription:
        """Store a subscription that receives what its topic gets from now on."""
        with self._cond:
            self.get_topic(config.topic)
            if config.name in self._subscriptions:
                raise AlreadyExists(config.name)
            if config.ack_deadline_seconds <= 0:
                config.ack_deadline_seconds = _DEFAULT_ACK_DEADLINE_SECONDS
            self._subscriptions[config.name] = _Subscription(config)
            return config

    def get_subscription(self, name: str) -> types.Subscription:
        """The subscription called `name`; raises NotFound."""
        return self._subscription(name).config

    def publish(self, topic: str, messages: Sequence[Any]) -> list[str]:
        """Publish each message (a `types.PubsubMessage` or its raw protobuf message, whose
        id and publish time are cleared: the service sets them); returns the ids."""
        encoded = []
        for given in messages:
            message = getattr(given, "_pb", given)  # the wrapper's own protobuf message
            message.ClearField("message_id")
            message.ClearField("publish_time")
            encoded.append(message.SerializeToString())
        return self.publish_encoded(topic, encoded)[0]

    def publish_encoded(self, topic: str, messages: Sequence[bytes]) -> tuple[list[str], datetime]:
        """Publish `PubsubMessage`s given encoded, without id or publish time: stamps both,
        fans them out; returns the ids and the publish time."""
        with self._cond:
            self.get_topic(topic)
            now = timestamp_pb2.Timestamp()
            now.GetCurrentTime()
            publish_time = pubsub_wire.PubsubMessagePb(publish_time=now).SerializeToString()
            subscribers = [s for s in self._subscriptions.values() if s.config.topic == topic]
            ids = []
            for message in messages:
                message_id = str(next(self._message_ids))
                stamped = pubsub_wire.stamped(message, message_id, publish_time)
                ids.append(message_id)
                for sub in subscribers:
                    sub.records[message_id] = _Record(message_id, stamped)
                    sub.ready.append(message_id)
            self._published[topic] += len(messages)
            self._cond.notify_all()
            return ids, now.ToDatetime(tzinfo=UTC)

    def take(
        self,
        subscription: str,
        max_count: int,
        wait: float,
        deadline: float = 0,
        holder: object = None,
    ) -> Delivery:
        """Lease up to `max_count` messages, waiting up to `wait` s for the first.

        `deadline` is the lease in seconds (0: the subscription's ack deadline). The leases
        count towards `holder`'s (see `held`) while they last, if a holder is given.
        """
        end = time.monotonic() + wait
        with self._cond:
            sub = self._subscription(subscription)
            while not sub.ready and (remaining := end - time.monotonic()) > 0:
                self._cond.wait(min(remaining, _TICK_SECONDS))
                sub = self._subscription(subscription)
            until = time.monotonic() + self._bounded(deadline or sub.config.ack_deadline_seconds)
            count = min(max_count, len(sub.ready))
            ack_ids = [f"ack-{n}" for n in itertools.islice(self._ack_ids, count)]
            response = b"".join([self._lease(sub, ack_id, until, holder) for ack_id in ack_ids])
            if holder is not None and ack_ids:
                sub.held[holder] = sub.held.get(holder, 0) + len(ack_ids)
            if ack_ids:
                sub.earliest_deadline = min(sub.earliest_deadline, until)
                sub.peak_outstanding = max(sub.peak_outstanding, len(sub.leases))
            return Delivery(ack_ids, response)

    def acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        """Settle the messages leased under `ack_ids`; unknown or stale ids are ignored."""
        with self._cond:
            sub = self._subscription(subscription)
            for ack_id in ack_ids:
                record = sub.leases.pop(ack_id, None)
                if record is not None:
                    del sub.records[record.message_id]
                    _release(sub, record)
                    sub.acked += 1
            self._cond.notify_all()

    def modify_deadline(self, subscription: str, ack_ids: list[str], seconds: float) -> None:
        """Extend the leases to `seconds` from now; 0 is a nack: redeliver at once."""
        with self._cond:
            sub = self._subscription(subscription)
            deadline = time.monotonic() + self._bounded(seconds) if seconds > 0 else 0.0
            for ack_id in ack_ids:
                record = sub.leases.get(ack_id)
                if record is not None:
                    record.deadline = deadline
                    sub.earliest_deadline = min(sub.earliest_deadline, deadline)
            self._expire(sub)
            self._cond.notify_all()

    def held(self, subscription: str, holder: object) -> int:
        """How many of the leases given to `holder` are current."""
        with self._cond:
            return self._subscription(subscription).held.get(holder, 0)

    def published_count(self, topic: str) -> int:
        """How many messages were published to `topic`."""
        with self._cond:
            return self._published[topic]

    def acked_count(self, subscription: str) -> int:
        """How many messages of `subscription` were acknowledged."""
        return self._subscription(subscription).acked

    def outstanding(self, subscription: str) -> int:
        """How many messages are delivered and neither acked nor expired."""
        return len(self._subscription(subscription).leases)

    def backlog(self, subscription: str) -> int:
        """How many messages wait for (re)delivery."""
        return len(self._subscription(subscription).ready)

    def peak_outstanding(self, subscription: str) -> int:
        """The most messages of `subscription` ever leased at the same time."""
        return self._subscription(subscription).peak_outstanding

    def peak_attempts(self, subscription: str) -> int:
        """The most times any one message of `subscription` was delivered."""
        return self._subscription(subscription).peak_attempts

    def wait_until_drained(self, subscription: str, timeout: float) -> bool:
        """Wait until every message of `subscription` is acked; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._subscription(subscription).records:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _TICK_SECONDS))
            return True

    def _subscription(self, name: str) -> _Subscription:
        with self._cond:
            sub = self._subscriptions.get(name)
            if sub is None:
                raise NotFound(name)
            self._expire(sub)
            return sub

    def _bounded(self, seconds: float) -> float:
        return min(seconds, self._max_ack_deadline or seconds)

    def _lease(self, sub: _Subscription, ack_id: str, until: float, holder: object) -> bytes:
        """The next ready message, leased under `ack_id` until `until` (monotonic s)."""
        record = sub.records[sub.ready.popleft()]
        record.attempts += 1
        record.deadline = until
        record.holder = holder
        sub.leases[ack_id] = record
        sub.peak_attempts = max(sub.peak_attempts, record.attempts)
        return pubsub_wire.received(ack_id, record.message, record.attempts)

    def _expire(self, sub: _Subscription) -> None:
        # Every read and change comes here: the leases are looked through only once the
        # earliest of their deadlines may have passed, not on every call.
        now = time.monotonic()
        if now < sub.earliest_deadline:
            return
        earliest = float("inf")
        for ack_id, record in list(sub.leases.items()):
            if record.deadline <= now:
                del sub.leases[ack_id]
                _release(sub, record)
                sub.ready.appendleft(record.message_id)
            else:
                earliest = min(earliest, record.deadline)
        sub.earliest_deadline = earliest


def _release(sub: _Subscription, record: _Record) -> None:
    """The record's lease is over (acked or lapsed): it no longer counts to its holder."""
    if record.holder is not None:
        left = sub.held.pop(record.holder) - 1
        if left:
            sub.held[record.holder] = left
        record.holder = None
