"""What ingest and push share while Pub/Sub waits: batches handed to the broker and not
yet recorded in the database, and dependencies that come and go.

A Pub/Sub message is settled (acked, or answered 2xx) only once the batch that carries
it is recorded: until then Pub/Sub, not Redis, holds the only durable copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Waiting(Generic[T]):
    since: float
    holders: list[T]


class Unrecorded(Generic[T]):
    """Batches in the broker, each with what waits for its record (messages, requests).

    `check` asks the store about all of them at once: one query per tick, however many
    batches wait. A batch waiting longer than `timeout_s` comes back from `expired`.
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._waiting: dict[str, _Waiting[T]] = {}

    def add(self, batch_id: str, holders: list[T]) -> None:
        waiting = self._waiting.setdefault(batch_id, _Waiting(self._clock(), []))
        waiting.holders.extend(holders)

    def ids(self) -> list[str]:
        return list(self._waiting)

    def recorded(self, settled: Collection[str]) -> list[T]:
        """Takes out the batches among `settled` (store.settled_batches of `ids()`)."""
        done = [b for b in settled if b in self._waiting]
        return [h for b in done for h in self._waiting.pop(b).holders]

    def expired(self) -> tuple[int, list[T]]:
        """Takes out the batches that waited too long: (how many batches, their holders)."""
        limit = self._clock() - self.timeout_s
        late = [b for b, w in self._waiting.items() if w.since <= limit]
        return len(late), [h for b in late for h in self._waiting.pop(b).holders]

    def take_all(self) -> list[T]:
        holders = [h for w in self._waiting.values() for h in w.holders]
        self._waiting.clear()
        return holders

    def __len__(self) -> int:
        return len(self._waiting)


class Dependency:
    """Postgres or the broker, as seen from here: one log line when it goes away and one
    when it is back (not one traceback per message), and a growing pause between tries."""

    def __init__(self, name: str, log: logging.Logger, max_pause_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._log = log
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._failures = 0
        self._since = 0.0
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._failures > 0

    def ready(self) -> bool:
        """Whether to try it now: it is up, or its pause is over."""
        return not self.down or self._clock() >= self._retry_at

    def pause_s(self) -> float:
        """How long until the next try."""
        return max(0.0, self._retry_at - self._clock())

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        if not self.down:
            self._since = now
            self._log.warning("%s unreachable; holding on and retrying", self.name,
                              extra={"dependency": self.name, "error": _first_line(error)})
        self._failures += 1
        self._retry_at = now + min(self._max_pause_s, 0.25 * 2 ** min(self._failures, 10))

    def ok(self) -> None:
        if self.down:
            self._log.warning("%s back after %.1f s", self.name, self._clock() - self._since,
                              extra={"dependency": self.name})
        self._failures = 0


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
