"""The ingest boundary: parsed items in, batches and dead letters out.

Every source (a file, Pub/Sub streaming pull, the push endpoint) feeds this one path,
so an entry is counted once on arrival and ends up in exactly one batch or one dead
letter.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from observability.metrics import get_metrics, observe_many
from pipeline.batch import Batch, Batcher
from pipeline.entry import LogEntry
from pipeline.parsing import Rejection
from pipeline.storage import DeadLetterRow, Store

BatchSink = Callable[[Batch], None]
RejectSink = Callable[[Rejection], None]


class Ingest:
    """Routes each item: entries to the batcher, rejections to the dead-letter sink."""

    def __init__(
        self, batcher: Batcher, on_batch: BatchSink, on_reject: RejectSink, *, source: str
    ) -> None:
        """`source` (pubsub, push, file) labels the received-entries metric."""
        self.batcher = batcher
        self._on_batch = on_batch
        self._on_reject = on_reject
        self.received = 0
        self.rejected: Counter[str] = Counter()
        # The metric is told in steps, whenever a batch or dead letter leaves and on every
        # tick: a Prometheus increment per entry cost as much as batching the entry.
        self._received = get_metrics().entries_received_total.labels(source=source)
        self._told_received = 0
        # A replayed file is old by design: its lag would only say when it was written.
        self._lag = None if source == "file" else get_metrics().ingest_lag_seconds.labels(
            source=source)
        # The lag is observed in bulk when the count is told, each entry's from then: a
        # caller's loop feeds a few hundred entries between ticks, well under the first
        # bucket's second, and an `observe` per entry cost more than batching the entry.
        self._arrived_ns: list[int] = []

    def feed(self, item: LogEntry | Rejection, now: float) -> None:
        """Takes one parsed item; closes whatever batches it completes."""
        self.received += 1
        # Asked of LogEntry: isinstance answers a hit on the exact type at once, while a
        # miss looks up the item's __class__ too, and nearly every item is an entry.
        if not isinstance(item, LogEntry):
            self.rejected[item.reason] += 1
            self._tell_received()
            self._on_reject(item)
            return
        if self._lag is not None:
            self._arrived_ns.append(item.timestamp_ns)
        closed = self.batcher.add(item, now)
        if closed:
            self._tell_received()
            for batch in closed:
                self._on_batch(batch)

    def tick(self, now: float) -> None:
        """Closes batches that have waited long enough; call it regularly."""
        self._tell_received()
        for batch in self.batcher.due(now):
            self._on_batch(batch)

    def close(self) -> None:
        """Flushes every open batch (end of input or shutdown)."""
        self._tell_received()
        for batch in self.batcher.flush():
            self._on_batch(batch)

    def _tell_received(self) -> None:
        if self.received > self._told_received:
            self._received.inc(self.received - self._told_received)
            self._told_received = self.received
        if self._lag is not None and self._arrived_ns:
            now_ns = time.time_ns()
            lags = [(now_ns - ns) / 1e9 for ns in self._arrived_ns]
            if min(lags) < 0:  # a clock ahead of ours: no lag, rather than a negative one
                lags = [max(0.0, lag) for lag in lags]
            observe_many(self._lag, lags)
            self._arrived_ns.clear()


def keep_rejections(store: Store, rejections: Sequence[Rejection]) -> int:
    """Stores rejections as dead letters; returns how many were new. The metric counts the
    new ones only, so a redelivered bad message is counted once, like every entry."""
    by_reason: defaultdict[str, list[DeadLetterRow]] = defaultdict(list)
    for rejection in rejections:
        by_reason[str(rejection.reason)].append(DeadLetterRow.from_rejection(rejection))
    added = 0
    for reason, rows in by_reason.items():
        new = store.add_dead_letters(rows)
        get_metrics().dead_letters_total.labels(reason=reason).inc(new)
        added += new
    return added
