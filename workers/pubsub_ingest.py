"""`logwarden ingest`: streaming pull from a Pub/Sub subscription into Celery batches.

A message is acked only once the batch that carries it is recorded in the database (or
failed for good and kept as dead letters); a dead letter, once stored. Until then the
message stays leased (its lease is renewed for up to `record_timeout_s` and a minute, and
at most `max_outstanding` are held), so Pub/Sub keeps the only durable copy: Redis
may lose a queued batch, and the message comes back. A batch not recorded in time is
nacked and redelivered; the database counts each delivery once, however it is regrouped.

When the broker is full or away, or the database away, closed batches and dead letters
wait here and pulling pauses; each outage is logged once when it starts and once when it
ends. One thread owns the batcher: the stream's thread only queues its responses.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import google.cloud.pubsub_v1 as pubsub_v1  # "from google.cloud import" trips mypy

from observability.metrics import get_metrics
from pipeline.batch import Batch, Batcher, BatchLimits
from pipeline.ingest import Ingest, keep_rejections
from pipeline.parsing import Rejection, parse_pubsub_message
from pipeline.storage import Store
from workers.pubsub_stream import PullStream, ReceivedMessage
from workers.settling import Dependency, Unrecorded

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5  # how often the database is asked which batches are recorded
SAMPLE_DEPTH_EVERY_S = 5.0  # how often the broker queue's depth is sampled for the gauge


@dataclass(frozen=True, slots=True)
class IngestConfig:
    subscription: str
    limits: BatchLimits = field(default_factory=BatchLimits)
    max_outstanding: int = 20_000  # flow control: messages held, neither acked nor nacked
    max_queue_depth: int = 2000  # batches waiting in the broker before we stop sending
    max_entry_bytes: int = 262_144
    record_timeout_s: float = 120.0  # a batch not recorded by then: nack, Pub/Sub redelivers
    shutdown_wait_s: float = 20.0  # on stop: how long to wait for the last batches' records


@dataclass(slots=True)
class IngestCounts:
    """Per delivery: once stopped, `received` == `acked` + `nacked`.

    `released` counts deliveries handed back at shutdown before they were looked at.
    """

    received: int = 0
    enqueued: int = 0
    dead_lettered: int = 0
    acked: int = 0
    nacked: int = 0
    released: int = 0


class PubSubIngest:
    """Pulls, parses, batches, enqueues, acks once recorded; `run` returns after `stop()`."""

    def __init__(
        self,
        config: IngestConfig,
        subscriber: pubsub_v1.SubscriberClient,
        store: Store,
        enqueue: Callable[[Batch], None],
        queue_depth: Callable[[], int],
    ) -> None:
        self.config = config
        self._store = store
        self._enqueue = enqueue
        self._queue_depth = queue_depth
        # A response of the stream at a time (hundreds of messages): a queue's lock and
        # wake-up per message cost as much as parsing it. The messages of the responses
        # taken from it wait in `_taken` (this thread's alone) until they are looked at.
        self._inbox: queue.Queue[Sequence[ReceivedMessage]] = queue.Queue()
        self._taken: deque[ReceivedMessage] = deque()
        self._held: dict[int, str] = {}  # id(item) -> its message's ack id, until batched
        self._unsent: list[tuple[Batch, list[str]]] = []  # closed, not in the broker yet
        self._unstored: list[tuple[Rejection, str]] = []  # dead letters not stored yet
        self._unrecorded: Unrecorded[str] = Unrecorded(config.record_timeout_s)
        self._broker = Dependency("broker", log)
        self._database = Dependency("database", log)
        self._checked_at = 0.0
        self._sampled_at = 0.0
        self._stop = threading.Event()
        self._gate = threading.Lock()  # between the pull callback and the shutdown
        self._closing = False
        self.ingest = Ingest(Batcher(config.limits), self._ship, self._dead_letter, source="pubsub")
        self.counts = IngestCounts()
        self._stream = PullStream(
            subscriber, config.subscription, self._receive,
            max_outstanding=config.max_outstanding,
            # Leases are kept alive while a batch waits for its record, and a little longer.
            max_lease_s=config.record_timeout_s + 60, log=log,
        )

    def stop(self) -> None:
        """Asks `run` to finish: open batches are sent and waited for, the rest nacked."""
        self._stop.set()

    def run(self) -> None:
        """Pulls until `stop()`; raises when the stream fails for good (e.g. no subscription)."""
        self._stream.start()
        log.info("ingest started", extra={"subscription": self.config.subscription})
        try:
            while not self._stop.is_set() and self._stream.failure is None:
                self._step()
        finally:
            self._shutdown()

    def _step(self) -> None:
        self._send()
        self._store_letters()
        paused = bool(self._unsent or self._unstored
                      or (self._database.down and len(self._unrecorded)))
        self._report(paused)
        if paused:
            self._stop.wait(0.2)  # pull no more: what is held keeps its leases meanwhile
        else:
            self._drain(timeout=0.2)
        self.ingest.tick(time.monotonic())
        self._settle_recorded()

    def _report(self, paused: bool) -> None:
        """The gauges of what this process holds: entries not in the broker yet, whether
        pulling is paused, and (every few seconds) the depth of the queue it feeds."""
        m = get_metrics()
        unsent = sum(len(batch.entries) for batch, _ in self._unsent)
        m.ingest_open_batch_entries.set(len(self._held) + unsent)
        m.ingest_flow_paused.set(int(paused))
        now = time.monotonic()
        if now - self._sampled_at >= SAMPLE_DEPTH_EVERY_S and self._broker.ready():
            self._sampled_at = now
            try:
                m.queue_depth.labels(queue="detect").set(self._queue_depth())
            except Exception as error:
                self._broker.failed(error)

    def _receive(self, received: Sequence[ReceivedMessage]) -> None:
        """A response of the stream (its thread): queue its messages, or hand them back
        once closing."""
        if not received:
            return
        with self._gate:
            if not self._closing:
                self._inbox.put(received)
                return
            self.counts.released += len(received)
        self._stream.nack([message.ack_id for message in received])

    def _drain(self, timeout: float, limit: int = 500) -> None:
        """Takes what has arrived until something has to wait, at most `limit` messages
        (waiting up to `timeout` for the first)."""
        for n in range(limit):
            if n and (self._stop.is_set() or self._unsent or self._unstored):
                return
            if not self._taken:
                try:
                    self._taken.extend(self._inbox.get(timeout=timeout) if n == 0
                                       else self._inbox.get_nowait())
                except queue.Empty:
                    return
            self._take(self._taken.popleft())

    def _take(self, received: ReceivedMessage) -> None:
        self.counts.received += 1
        message = received.message
        # Not `ToNanoseconds()`, which checks the range in Python first: twice the CPU of
        # reading the two fields. The service's publish time is a valid one; an unset one
        # reads as zero.
        stamp = message.publish_time
        publish_ns = stamp.seconds * 1_000_000_000 + stamp.nanos or None
        item = parse_pubsub_message(
            message.data,
            message.attributes,  # read with `get` only: no copy into a dict
            message.message_id,
            publish_ns,
            max_bytes=self.config.max_entry_bytes,
        )
        self._held[id(item)] = received.ack_id
        self.ingest.feed(item, time.monotonic())

    def _ship(self, batch: Batch) -> None:
        self._unsent.append((batch, [self._held.pop(id(e)) for e in batch.entries]))
        self._send()

    def _dead_letter(self, rejection: Rejection) -> None:
        self._unstored.append((rejection, self._held.pop(id(rejection))))
        self._store_letters()

    def _send(self) -> None:
        """Hands closed batches to the broker while it has room (back-pressure: a deep
        queue stops the sending, so the pulling, and Pub/Sub keeps the backlog)."""
        while self._unsent and self._broker.ready():
            batch, messages = self._unsent[0]
            try:
                if self._queue_depth() >= self.config.max_queue_depth:
                    return
                self._enqueue(batch)
            except Exception as error:
                self._broker.failed(error)
                return
            self._broker.ok()
            self._unsent.pop(0)
            self._unrecorded.add(batch.id, messages)
            self.counts.enqueued += len(messages)

    def _store_letters(self) -> None:
        if not self._unstored or not self._database.ready():
            return
        try:
            keep_rejections(self._store, [rejection for rejection, _ in self._unstored])
        except Exception as error:
            self._database.failed(error)
            return
        self._database.ok()
        self._settle([message for _, message in self._unstored], ok=True)
        self.counts.dead_lettered += len(self._unstored)
        self._unstored.clear()

    def _settle_recorded(self, *, force: bool = False) -> None:
        """Acks the messages of recorded batches (one query for all of them); nacks those
        of batches that waited too long, for Pub/Sub to deliver again."""
        now = time.monotonic()
        if not force and now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        if len(self._unrecorded) and self._database.ready():
            try:
                settled = self._store.settled_batches(self._unrecorded.ids())
            except Exception as error:
                self._database.failed(error)
            else:
                self._database.ok()
                self._settle(self._unrecorded.recorded(settled), ok=True)
        late, messages = self._unrecorded.expired()
        if late:
            log.warning("batches not recorded in time; their messages nacked for redelivery",
                        extra={"batches": late, "messages": len(messages),
                               "timeout_s": self.config.record_timeout_s})
            self._settle(messages, ok=False)

    def _settle(self, messages: list[str], *, ok: bool) -> None:
        """Acks (or nacks) these messages, by their ack ids."""
        if ok:
            self._stream.ack(messages)
            self.counts.acked += len(messages)
        else:
            self._stream.nack(messages)
            self.counts.nacked += len(messages)

    def _shutdown(self) -> None:
        # Settle everything while the stream can still send acks, then close it (which
        # flushes them). Late arrivals are handed back, not left to expire.
        with self._gate:
            self._closing = True
            released = list(self._taken)
            self._taken.clear()
            for _ in range(self._inbox.qsize()):
                released.extend(self._inbox.get_nowait())
            self.counts.released += len(released)
        self._stream.nack([message.ack_id for message in released])
        self.ingest.close()
        deadline = time.monotonic() + self.config.shutdown_wait_s
        while (self._unsent or self._unstored or len(self._unrecorded)) and (
            time.monotonic() < deadline
        ):
            self._send()
            self._store_letters()
            self._settle_recorded(force=True)
            time.sleep(0.2)
        self._settle([m for _, ms in self._unsent for m in ms], ok=False)
        self._settle([m for _, m in self._unstored], ok=False)
        self._settle(self._unrecorded.take_all(), ok=False)
        self._stream.close()
        if self._stream.failure is not None and not self._stop.is_set():
            raise self._stream.failure  # the service's own words: no such subscription, ...
        log.info("ingest stopped", extra={"counts": self.counts})
