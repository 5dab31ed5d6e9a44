"""Micro-batches: entries of one stream key, closed on count, span, bytes or age."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

from pipeline.entry import LogEntry, StreamKey, delivery_keys_of


def batch_id_for(key: StreamKey, entries: Sequence[LogEntry]) -> str:
    """A stable id: the same stream and the same deliveries give the same batch id, so a
    redelivered batch is recognised, while a second copy of an entry (another delivery
    of the same insert id) makes another batch, whose duplicate is counted."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=16)
    deliveries = delivery_keys_of(entries)
    deliveries.sort()
    if deliveries:  # each after a NUL, hashed at once: the same bytes as one update each
        digest.update(("\x00" + "\x00".join(deliveries)).encode())
    return digest.hexdigest()


# Not slotted: start_ns and end_ns are cached in the instance's dict, which msgspec does not
# encode, so the detect task's wire format stays the three fields. The detectors and
# scoring read them about twenty times a batch; each read was a pass over every entry.
@dataclass(frozen=True)
class Batch:
    key: StreamKey
    entries: tuple[LogEntry, ...]
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", batch_id_for(self.key, self.entries))

    @cached_property
    def start_ns(self) -> int:
        return min(map(_timestamp_ns, self.entries), default=0)

    @cached_property
    def end_ns(self) -> int:
        return max(map(_timestamp_ns, self.entries), default=0)


_timestamp_ns = attrgetter("timestamp_ns")  # in C: no generator step per entry


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_entries: int = 500
    max_span_s: float = 60.0  # event time covered by one batch
    max_bytes: int = 1_000_000
    max_wait_s: float = 5.0  # wall-clock time an open batch may wait for more entries


@dataclass(slots=True)
class _OpenBatch:
    key: StreamKey
    opened_at: float
    first_ns: int
    entries: list[LogEntry] = field(default_factory=list)
    size: int = 0


# An open batch is found by a plain tuple of its stream's fields: building a StreamKey and
# hashing it in Python for every entry cost more than the rest of `add`.
_Fields = tuple[str, str, str]
_NONE: tuple[Batch, ...] = ()
# Event-time windows one stream may have open at once. A stream is a service, often many
# pods: one whose clock is minutes off, or a late straggler, gets a window of its own
# instead of closing the others' batch on every line.
MAX_WINDOWS = 16


class Batcher:
    """Groups entries per stream key; the caller passes the wall clock in (`now`).

    A batch covers at most `max_span_s` of event time from its first entry. An entry
    past every window its stream has open moves the stream on: those batches close, as
    time has left them. One that fits none but falls behind one opens a window beside
    them; past `MAX_WINDOWS`, the window furthest back closes.
    """

    def __init__(self, limits: BatchLimits = BatchLimits()) -> None:
        self.limits = limits
        self._open: dict[_Fields, list[_OpenBatch]] = {}
        self._span_ns = limits.max_span_s * 1e9
        self._max_entries = limits.max_entries
        self._max_bytes = limits.max_bytes
        self._fill = limits.max_entries - 1  # entries a window holds and stays open

    def add(self, entry: LogEntry, now: float) -> Sequence[Batch]:
        """Adds one entry; returns the batches this closed."""
        fields = (entry.project, entry.resource_type, entry.service)
        windows = self._open.get(fields)
        if windows is not None and len(windows) == 1:
            # The usual case, in a few steps: the stream's one window, which the entry
            # fits and neither fills nor overflows.
            window = windows[0]
            size = window.size + entry.size
            if (
                abs(entry.timestamp_ns - window.first_ns) <= self._span_ns
                and size <= self._max_bytes
                and len(window.entries) < self._fill
            ):
                window.entries.append(entry)
                window.size = size
                return _NONE  # (one shared empty tuple: no new list an entry)
        return self._add(entry, now, fields, windows)

    def _add(
        self, entry: LogEntry, now: float, fields: _Fields, windows: list[_OpenBatch] | None
    ) -> list[Batch]:
        """`add`, for any entry."""
        closed: list[Batch] = []
        if windows is None:
            windows = self._open[fields] = []
        current = self._window(windows, entry.timestamp_ns, closed)
        if current and current.size + entry.size > self._max_bytes:
            closed.append(self._close(windows, current))
            current = None
        if current is None:
            if len(windows) >= MAX_WINDOWS:
                closed.append(self._close(windows, min(windows, key=_first_ns)))
            current = _OpenBatch(StreamKey(*fields), opened_at=now, first_ns=entry.timestamp_ns)
            windows.append(current)
        current.entries.append(entry)
        current.size += entry.size
        if len(current.entries) >= self._max_entries:
            closed.append(self._close(windows, current))
        if not windows:
            del self._open[fields]
        return closed

    def _window(self, windows: list[_OpenBatch], ts: int, closed: list[Batch]) -> _OpenBatch | None:
        """The open batch the time fits, if any; when it is past them all, they close."""
        span = self._span_ns
        if len(windows) == 1 and abs(ts - windows[0].first_ns) <= span:
            return windows[0]  # the usual case: one window, and the entry fits it
        if all(ts - w.first_ns > span for w in windows):
            closed += [self._close(windows, w) for w in list(windows)]
            return None
        return next((w for w in windows if abs(ts - w.first_ns) <= span), None)

    def due(self, now: float) -> list[Batch]:
        """Closes the batches that have waited `max_wait_s` or longer."""
        wait = self.limits.max_wait_s
        closed = []
        for fields, windows in list(self._open.items()):
            closed += [self._close(windows, w) for w in list(windows) if now - w.opened_at >= wait]
            if not windows:
                del self._open[fields]
        return closed

    def flush(self) -> list[Batch]:
        """Closes every open batch (shutdown, end of file)."""
        closed = [self._close(windows, w) for windows in self._open.values() for w in list(windows)]
        self._open.clear()
        return closed

    @property
    def pending(self) -> int:
        return sum(len(w.entries) for windows in self._open.values() for w in windows)

    @staticmethod
    def _close(windows: list[_OpenBatch], window: _OpenBatch) -> Batch:
        windows.remove(window)
        return Batch(window.key, tuple(window.entries))


def _first_ns(window: _OpenBatch) -> int:
    return window.first_ns
