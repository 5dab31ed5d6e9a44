"""`logwarden ingest`: streaming pull from a Pub/Sub subscription into Celery batches.

Messages are acked only after the broker has taken the batch that holds them; on an
enqueue failure they are nacked (after a growing pause, so a broker outage does not turn
into a redelivery storm) and Pub/Sub redelivers them. Dead letters are stored first,
then acked. The pull callback only queues messages: one thread owns the batcher, so
there is no locking around it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.futures import StreamingPullFuture
from google.cloud.pubsub_v1.subscriber.message import Message

from pipeline.batch import Batch, Batcher, BatchLimits
from pipeline.ingest import Ingest
from pipeline.parsing import Rejection, parse_pubsub_message
from pipeline.storage import DeadLetterRow, Store

log = logging.getLogger(__name__)

MAX_ENQUEUE_PAUSE_S = 30.0


@dataclass(frozen=True, slots=True)
class IngestConfig:
    subscription: str
    limits: BatchLimits = field(default_factory=BatchLimits)
    max_outstanding: int = 5000  # Pub/Sub flow control: messages held but not acked
    max_queue_depth: int = 2000  # batches waiting in the broker before we stop pulling
    max_entry_bytes: int = 262_144


@dataclass(slots=True)
class IngestCounts:
    """Per delivery: `received` == `enqueued` + `dead_lettered` + `nacked` once stopped.

    `released` counts deliveries handed back at shutdown before they were looked at.
    """

    received: int = 0
    enqueued: int = 0
    dead_lettered: int = 0
    nacked: int = 0
    released: int = 0


class PubSubIngest:
    """Pulls, parses, batches, enqueues; `run` returns after `stop()` once all is settled."""

    def __init__(
        self,
        config: IngestConfig,
        subscriber: pubsub_v1.SubscriberClient,
        store: Store,
        enqueue: Callable[[Batch], None],
        queue_depth: Callable[[], int],
    ) -> None:
        self.config = config
        self._subscriber = subscriber
        self._store = store
        self._enqueue = enqueue
        self._queue_depth = queue_depth
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._held: dict[int, Message] = {}  # id(entry) -> its message, until enqueued
        self._stop = threading.Event()
        self._gate = threading.Lock()  # between the pull callback and the shutdown
        self._closing = False
        self._failed_enqueues = 0  # in a row
        self.ingest = Ingest(Batcher(config.limits), self._ship, self._dead_letter, source="pubsub")
        self.counts = IngestCounts()

    def stop(self) -> None:
        """Asks `run` to finish: open batches are enqueued, the rest handed back."""
        self._stop.set()

    def run(self) -> None:
        """Pulls until `stop()`; raises when the stream fails for good (e.g. no subscription)."""
        flow = pubsub_v1.types.FlowControl(max_messages=self.config.max_outstanding)
        future = self._subscriber.subscribe(
            self.config.subscription, self._receive, flow_control=flow
        )
        log.info("ingest started", extra={"subscription": self.config.subscription})
        try:
            while not self._stop.is_set() and not future.done():
                self._drain(timeout=0.2)
                self.ingest.tick(time.monotonic())
        finally:
            self._shutdown(future)

    def _receive(self, message: Message) -> None:
        """The pull callback (client threads): queue it, or hand it back once closing."""
        with self._gate:
            if not self._closing:
                self._inbox.put(message)
                return
            self.counts.released += 1
        message.nack()

    def _drain(self, timeout: float, limit: int = 500) -> None:
        """Takes what has arrived, at most `limit`, so that `stop` and `tick` get a turn."""
        try:
            self._take(self._inbox.get(timeout=timeout))
            for _ in range(limit - 1):
                if self._stop.is_set():
                    return
                self._take(self._inbox.get_nowait())
        except queue.Empty:
            return

    def _take(self, message: Message) -> None:
        self.counts.received += 1
        publish_ns = int(message.publish_time.timestamp() * 1e9) if message.publish_time else None
        item = parse_pubsub_message(
            message.data,
            dict(message.attributes),
            message.message_id,
            publish_ns,
            max_bytes=self.config.max_entry_bytes,
        )
        self._held[id(item)] = message
        self.ingest.feed(item, time.monotonic())

    def _ship(self, batch: Batch) -> None:
        messages = [self._held.pop(id(e)) for e in batch.entries]
        self._wait_for_room()
        try:
            self._enqueue(batch)
        except Exception:
            log.exception(
                "enqueue failed; messages nacked for redelivery", extra={"batch_id": batch.id}
            )
            self._pause_after_failure()
            self._settle(messages, ok=False)
            return
        self._failed_enqueues = 0
        self._settle(messages, ok=True)
        self.counts.enqueued += len(messages)

    def _dead_letter(self, rejection: Rejection) -> None:
        message = self._held.pop(id(rejection))
        try:
            self._store.add_dead_letters([DeadLetterRow.from_rejection(rejection)])
        except Exception:
            log.exception("storing a dead letter failed; message nacked")
            self._settle([message], ok=False)
            return
        self._settle([message], ok=True)
        self.counts.dead_lettered += 1

    def _settle(self, messages: list[Message], *, ok: bool) -> None:
        settle = Message.ack if ok else Message.nack
        for message in messages:
            settle(message)
        if not ok:
            self.counts.nacked += len(messages)

    def _pause_after_failure(self) -> None:
        self._failed_enqueues += 1
        self._stop.wait(min(MAX_ENQUEUE_PAUSE_S, 0.5 * 2 ** (self._failed_enqueues - 1)))

    def _wait_for_room(self) -> None:
        """Back-pressure: while the broker is too deep, hold on (and so stop pulling)."""
        while not self._stop.is_set() and self._depth() > self.config.max_queue_depth:
            self._stop.wait(0.5)

    def _depth(self) -> int:
        try:
            return self._queue_depth()
        except Exception:  # the enqueue that follows reports the broker's trouble
            log.warning("broker queue depth unknown", exc_info=True)
            return 0

    def _shutdown(self, future: StreamingPullFuture) -> None:
        # Settle everything while the client can still send acks, then close the stream
        # (which flushes them). Late arrivals are handed back, not left to expire.
        with self._gate:
            self._closing = True
            released = [self._inbox.get_nowait() for _ in range(self._inbox.qsize())]
            self.counts.released += len(released)
        for message in released:
            message.nack()
        self.ingest.close()
        future.cancel()
        try:
            future.result(timeout=30)
        except Exception as error:
            if not self._stop.is_set():
                raise RuntimeError("the Pub/Sub stream failed") from error
        log.info("ingest stopped", extra={"counts": self.counts})
