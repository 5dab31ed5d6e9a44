"""What goes into the store and what comes out of it, besides the contract types."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import msgspec

MAX_RAW_BYTES = 64 * 1024  # a dead letter keeps this much of its raw input


class OutboxStatus(StrEnum):
    """Where one outgoing message is; the values of `alerting.alert.DeliveryStatus`."""

    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"  # not sent, on purpose: acknowledged, silenced, inhibited


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """The ledger line of one batch: how many entries came and what became of them.

    `entries` - `processed` - `duplicates` is how many were redeliveries of entries
    another batch had already counted (Pub/Sub may regroup what it redelivers)."""

    batch_id: str
    stream: str
    entries: int
    processed: int
    duplicates: int
    start_ns: int
    end_ns: int


class Outcome(StrEnum):
    """What became of one delivered entry (besides a dead letter, which has its own table)."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # another delivery of an insert id already processed


class EntryOutcome(msgspec.Struct, frozen=True, gc=False):
    """One delivery, counted once: `insert_key` is kept for processed entries only, where
    it is unique, so an insert id is processed at most once whatever Redis forgot. (A
    Struct: one is built per entry, at a seventh of a frozen dataclass's cost.)"""

    delivery_id: str
    outcome: Outcome
    insert_key: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateRow:
    """A template as seen in one batch: `count` occurrences between first and last seen."""

    id: str
    text: str
    count: int
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What `Store.record_batch` did; all empty when the batch was already recorded."""

    already_recorded: bool
    new_anomaly_ids: tuple[str, ...] = ()
    new_alert_ids: tuple[str, ...] = ()
    updated_alert_ids: tuple[str, ...] = ()
    alert_of: Mapping[str, str] = field(default_factory=dict)  # anomaly id -> alert id


class Rejected(Protocol):
    """The shape of a parser rejection (`pipeline.parsing.Rejection`), as the store needs it."""

    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def raw_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """Input that could not be used, with its reason. `id` is stable for the same input."""

    id: str
    reason: str
    detail: str
    source: str
    raw: bytes  # at most MAX_RAW_BYTES of it
    raw_size: int  # of the whole input
    received_at: datetime

    @classmethod
    def of(
        cls,
        reason: str,
        detail: str,
        source: str,
        raw: bytes | str,
        received_at: datetime | None = None,
        *,
        raw_size: int | None = None,
        keep_bytes: int = MAX_RAW_BYTES,
    ) -> DeadLetterRow:
        """Builds a row; the id hashes source, reason and raw (as given, before cutting).

        Pass `raw_size` when `raw` was already cut to size by the caller, and a larger
        `keep_bytes` when the raw input must stay whole (to be replayed).
        """
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        digest = hashlib.blake2b(digest_size=16)
        for part in (source.encode(), str(reason).encode(), data):
            digest.update(len(part).to_bytes(8, "big") + part)
        return cls(
            id=digest.hexdigest(),
            reason=str(reason),
            detail=detail,
            source=source,
            raw=data[:keep_bytes],
            raw_size=len(data) if raw_size is None else raw_size,
            received_at=received_at or datetime.now(UTC),
        )

    @classmethod
    def from_rejection(
        cls, rejection: Rejected, received_at: datetime | None = None
    ) -> DeadLetterRow:
        return cls.of(
            rejection.reason,
            rejection.detail,
            rejection.source,
            rejection.raw,
            received_at,
            raw_size=rejection.raw_size,
        )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One claimed message: `payload` holds the fields of `alerting.alert.AlertMessage`.

    `attempt` is this claim's number (1 for the first) and its fencing token;
    `unrecorded` says the previous claim ended without a recorded outcome (its sender
    stopped), so the receiver may already have the message.
    """

    id: int
    alert_id: str
    channel: str
    status: OutboxStatus
    attempt: int
    payload: dict[str, Any]
    unrecorded: bool = False
    kind: str = "firing"
    revision: int = 1

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt at this message (one per incident, receiver and
        revision); the first message's is the incident's and the receiver's name."""
        if self.kind == "review":
            return f"{self.alert_id}.{self.channel}.review"
        suffix = f".r{self.revision}" if self.revision > 1 else ""
        return f"{self.alert_id}.{self.channel}{suffix}"


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An incident as stored (an `alerts` row)."""

    id: str
    group_key: str
    fingerprint: str
    status: str
    severity: str
    title: str
    summary: str
    stream: str
    project: str
    service: str
    anomaly_type: str
    anomaly_types: tuple[str, ...]
    details: tuple[str, ...]
    samples: tuple[str, ...]
    lead_template_id: str | None
    first_seen_ns: int
    last_seen_ns: int
    anomaly_count: int
    revision: int
    opened_at: datetime
    active_at: datetime  # when an anomaly last joined it
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StoredAlert:
        data = dict(row)
        for name in ("anomaly_types", "details", "samples"):
            data[name] = tuple(data[name] or ())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    outbox_id: int
    alert_id: str
    channel: str
    attempt: int
    status: OutboxStatus
    error: str | None
    created_at: datetime
    kind: str = "firing"
    revision: int = 1


@dataclass(frozen=True, slots=True)
class Totals:
    """Everything counted so far; `entries >= processed + duplicates` per batch ledger
    (the rest were redeliveries, counted by the batch that came first)."""

    entries: int = 0
    processed: int = 0
    duplicates: int = 0
    batches: int = 0
    dead_letters: int = 0
    anomalies: int = 0
    alerts: int = 0
    anomalies_by_type: Mapping[str, int] = field(default_factory=dict)
    dead_letters_by_reason: Mapping[str, int] = field(default_factory=dict)
    deliveries_by_status: Mapping[str, int] = field(default_factory=dict)  # outbox messages
    attempts_by_status: Mapping[str, int] = field(default_factory=dict)  # every attempt
