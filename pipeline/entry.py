"""LogEntry: one parsed Cloud Logging entry, and the stream it belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from operator import attrgetter
from typing import Any

import msgspec


class Severity(IntEnum):
    """Cloud Logging's LogSeverity, with its numeric values (so they compare)."""

    DEFAULT = 0
    DEBUG = 100
    INFO = 200
    NOTICE = 300
    WARNING = 400
    ERROR = 500
    CRITICAL = 600
    ALERT = 700
    EMERGENCY = 800

    @property
    def is_error(self) -> bool:
        return self >= Severity.ERROR


@dataclass(frozen=True, slots=True, order=True)
class StreamKey:
    """What a stream is: one service of one resource type in one project."""

    project: str
    resource_type: str
    service: str

    def __str__(self) -> str:
        return f"{self.project}/{self.resource_type}/{self.service}"

    @classmethod
    def parse(cls, text: str) -> StreamKey:
        project, resource_type, service = text.split("/", 2)
        return cls(project, resource_type, service)


# A frozen Struct rather than a frozen dataclass: every entry is built once, and a frozen
# dataclass sets each of its 18 fields through object.__setattr__, which cost a third of
# parsing an entry. Encoded on the wire field by field, as the dataclass was.
# Not tracked by the garbage collector (gc=False): an entry holds strings, numbers and
# decoded JSON, a tree, so it is never part of a cycle; tracked, every collection walked
# the entries of the open and recent batches.
class LogEntry(msgspec.Struct, frozen=True, gc=False):
    """One log entry as Logwarden sees it; times are nanoseconds since the epoch (UTC)."""

    insert_id: str
    timestamp_ns: int
    severity: Severity
    message: str
    project: str = ""
    service: str = ""
    log_name: str = ""
    resource_type: str = "global"
    # Entries share equal label dicts (the parser gives the entries of a stream one copy,
    # and all entries without labels one empty dict): never change one in place; build
    # a new dict and a new entry instead.
    resource_labels: dict[str, str] = {}
    labels: dict[str, str] = {}
    payload: dict[str, Any] | None = None
    receive_timestamp_ns: int | None = None
    trace: str | None = None
    span_id: str | None = None
    http_status: int | None = None
    http_latency_s: float | None = None
    size: int = 0  # bytes of the raw entry, for byte-bounded batching
    # Which delivery carried it (the Pub/Sub message id, or file:line): a redelivery has
    # the same one, a second copy of the entry (same insert id) has another.
    delivery_id: str = ""
    # True when the entry named no time of its own (neither timestamp nor receiveTimestamp)
    # and `timestamp_ns` is a time of its delivery: a second copy would get another one.
    time_assumed: bool = False

    @property
    def delivery_key(self) -> str:
        """What the accounting counts once: the delivery, or the entry when it has none."""
        return self.delivery_id or f"insert:{self.project}:{self.insert_id}"

    @property
    def insert_key(self) -> str:
        """What duplicates share. Cloud Logging's own definition: the same insert id, in
        the same project, at the same timestamp (another time is another entry). The time
        leads, so the keys of entries logged together sort together: the database's
        unique index takes a batch's keys into a few pages, not one page each. An entry
        whose time was assumed is keyed by its project and insert id alone."""
        if self.time_assumed:
            return f"{self.project}:{self.insert_id}"
        return f"{self.timestamp_ns}:{self.project}:{self.insert_id}"

    @property
    def stream_key(self) -> StreamKey:
        return StreamKey(self.project, self.resource_type, self.service)

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ns / 1e9, tz=UTC)


def delivery_keys_of(entries: Sequence[LogEntry]) -> list[str]:
    """`delivery_key` of each entry: their delivery ids, read in C, when all have one."""
    ids = list(map(_delivery_id, entries))
    return ids if all(ids) else [e.delivery_key for e in entries]


_delivery_id = attrgetter("delivery_id")
