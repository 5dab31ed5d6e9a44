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
from typing import Any

from google.pubsub_v1 import types

_TICK_SECONDS = 0.05
_DEFAULT_ACK_DEADLINE_SECONDS = 10
# Messages are kept and leased as the raw protobuf messages, not proto-plus wrappers: each
# wrapper field access converts, and in a load test that was much of the stand-in's CPU.
PubsubMessagePb: Any = types.PubsubMessage.pb()
ReceivedMessagePb: Any = types.ReceivedMessage.pb()


class NotFound(KeyError):
    """The topic or subscription named does not exist."""


class AlreadyExists(ValueError):
    """The topic or subscription named exists already."""


@dataclass
class _Record:
    message: Any  # PubsubMessagePb
    attempts: int = 0
    deadline: float = 0.0


@dataclass
class _Subscription:
    config: types.Subscription
    ready: deque[str] = field(default_factory=deque)  # message ids waiting for delivery
    records: dict[str, _Record] = field(default_factory=dict)  # message id -> record, un-acked
    leases: dict[str, str] = field(default_factory=dict)  # ack id -> message id
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
        """Stamp id and publish time on each message (a `types.PubsubMessage` or its raw
        protobuf message, which is what is kept), fan it out; returns the ids."""
        with self._cond:
            self.get_topic(topic)
            now = datetime.now(UTC)
            subscribers = [s for s in self._subscriptions.values() if s.config.topic == topic]
            for given in messages:
                message = getattr(given, "_pb", given)  # the wrapper's own protobuf message
                message.message_id = str(next(self._message_ids))
                message.publish_time.FromDatetime(now)
                for sub in subscribers:
                    sub.records[message.message_id] = _Record(message)
                    sub.ready.append(message.message_id)
            self._published[topic] += len(messages)
            self._cond.notify_all()
            return [getattr(m, "_pb", m).message_id for m in messages]

    def take(
        self, subscription: str, max_count: int, wait: float, deadline: float = 0
    ) -> list[Any]:
        """Lease up to `max_count` messages (raw `ReceivedMessage` protobuf messages),
        waiting up to `wait` s for the first.

        `deadline` is the lease in seconds (0: the subscription's ack deadline).
        """
        end = time.monotonic() + wait
        with self._cond:
            sub = self._subscription(subscription)
            while not sub.ready and (remaining := end - time.monotonic()) > 0:
                self._cond.wait(min(remaining, _TICK_SECONDS))
                sub = self._subscription(subscription)
            lease = self._bounded(deadline or sub.config.ack_deadline_seconds)
            count = min(max_count, len(sub.ready))
            return [self._lease(sub, lease) for _ in range(count)]

    def acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        """Settle the messages leased under `ack_ids`; unknown or stale ids are ignored."""
        with self._cond:
            sub = self._subscription(subscription)
            for ack_id in ack_ids:
                message_id = sub.leases.pop(ack_id, None)
                if message_id is not None:
                    del sub.records[message_id]
                    sub.acked += 1
            self._cond.notify_all()

    def modify_deadline(self, subscription: str, ack_ids: list[str], seconds: float) -> None:
        """Extend the leases to `seconds` from now; 0 is a nack: redeliver at once."""
        with self._cond:
            sub = self._subscription(subscription)
            deadline = time.monotonic() + self._bounded(seconds) if seconds > 0 else 0.0
            for ack_id in ack_ids:
                message_id = sub.leases.get(ack_id)
                if message_id is not None:
                    sub.records[message_id].deadline = deadline
                    sub.earliest_deadline = min(sub.earliest_deadline, deadline)
            self._expire(sub)
            self._cond.notify_all()

    def leased(self, subscription: str, ack_ids: set[str]) -> set[str]:
        """Those of `ack_ids` whose lease is still current."""
        with self._cond:
            return ack_ids & self._subscription(subscription).leases.keys()

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

    def _lease(self, sub: _Subscription, seconds: float) -> Any:
        record = sub.records[sub.ready.popleft()]
        record.attempts += 1
        sub.peak_attempts = max(sub.peak_attempts, record.attempts)
        ack_id = f"ack-{next(self._ack_ids)}"
        record.deadline = time.monotonic() + seconds
        sub.earliest_deadline = min(sub.earliest_deadline, record.deadline)
        sub.leases[ack_id] = record.message.message_id
        sub.peak_outstanding = max(sub.peak_outstanding, len(sub.leases))
        return ReceivedMessagePb(
            ack_id=ack_id, message=record.message, delivery_attempt=record.attempts
        )

    def _expire(self, sub: _Subscription) -> None:
        # Every read and change comes here: the leases are looked through only once the
        # earliest of their deadlines may have passed, not on every call.
        now = time.monotonic()
        if now < sub.earliest_deadline:
            return
        earliest = float("inf")
        for ack_id, message_id in list(sub.leases.items()):
            record = sub.records[message_id]
            if record.deadline <= now:
                del sub.leases[ack_id]
                sub.ready.appendleft(message_id)
            else:
                earliest = min(earliest, record.deadline)
        sub.earliest_deadline = earliest
