"""Cloud Logging LogEntry JSON, shaped the way a log sink delivers it."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any
from urllib.parse import quote

PROJECT = "acme-prod"
PAYLOAD_KINDS = ("textPayload", "jsonPayload", "protoPayload")

_ALNUM = string.ascii_lowercase + string.digits


def rfc3339(ns: int, digits: int) -> str:
    """UTC RFC 3339 with `digits` (0, 3, 6 or 9) fractional digits, truncated."""
    seconds, rest = divmod(ns, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return f"{text}Z"
    return f"{text}.{rest:09d}"[: len(text) + 1 + digits] + "Z"


def truncate(ns: int, digits: int) -> int:
    return ns - ns % 10 ** (9 - digits)


def duration(seconds: float) -> str:
    """A protobuf Duration as JSON: "0.247782900s" (0, 3, 6 or 9 fractional digits)."""
    whole, rest = divmod(round(seconds * 1e9), 10**9)
    for digits in (0, 3, 6, 9):
        unit = 10 ** (9 - digits)
        if rest % unit == 0:
            return f"{whole}.{rest // unit:0{digits}d}s" if digits else f"{whole}s"
    raise AssertionError("unreachable: 9 digits always fit")


def log_name(log_id: str) -> str:
    return f"projects/{PROJECT}/logs/{quote(log_id, safe='')}"


@dataclass(frozen=True, slots=True)
class Stream:
    """What every entry of one service shares: resource, log, labels, id and time style."""

    service: str
    resource_type: str
    resource_labels: dict[str, str]
    log_id: str
    labels: dict[str, str]
    timestamp_digits: int
    insert_id_style: str  # "k8s", "run", "gce", "dataproc" or "audit"


@dataclass(frozen=True, slots=True)
class Payload:
    """One rendered line: its severity, payload and any per-entry fields."""

    severity: str
    kind: str  # one of PAYLOAD_KINDS
    value: str | dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # httpRequest, trace, spanId
    resource_labels: dict[str, str] | None = None  # overrides the stream's
    labels: dict[str, str] | None = None
    log_id: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """A finished entry and its (already truncated) timestamp, for sorting."""

    timestamp_ns: int
    entry: dict[str, Any]
    fragile: bool = True  # may be picked to be corrupted or redelivered


class InsertIds:
    """Unique insert ids in the style each producer uses."""

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def next(self, style: str, timestamp_ns: int) -> str:
        while True:
            candidate = self._make(style, timestamp_ns)
            if candidate not in self._seen:
                self._seen.add(candidate)
                return candidate

    def _make(self, style: str, timestamp_ns: int) -> str:
        pick = self._rng.choice
        if style == "run":  # seconds in hex, then random hex
            return f"{timestamp_ns // 10**9:08x}{self._rng.getrandbits(64):016x}"
        if style == "audit":
            return "-" + "".join(pick(_ALNUM) for _ in range(12))
        size = {"k8s": 16, "gce": 14, "dataproc": 13}[style]
        return "".join(pick(_ALNUM) for _ in range(size))


def make_entry(
    stream: Stream, payload: Payload, timestamp_ns: int, insert_id: str, receive_delay_ns: int
) -> Record:
    """The LogEntry JSON object, keys in LogEntry's field order."""
    ts = truncate(timestamp_ns, stream.timestamp_digits)
    entry: dict[str, Any] = {"insertId": insert_id, payload.kind: payload.value}
    if "httpRequest" in payload.extra:
        entry["httpRequest"] = payload.extra["httpRequest"]
    entry["resource"] = {
        "type": stream.resource_type,
        "labels": payload.resource_labels or stream.resource_labels,
    }
    entry["timestamp"] = rfc3339(ts, stream.timestamp_digits)
    entry["severity"] = payload.severity
    labels = stream.labels if payload.labels is None else payload.labels
    if labels:
        entry["labels"] = labels
    entry["logName"] = log_name(payload.log_id or stream.log_id)
    for key in ("trace", "spanId", "traceSampled"):
        if key in payload.extra:
            entry[key] = payload.extra[key]
    entry["receiveTimestamp"] = rfc3339(ts + receive_delay_ns, 9)
    return Record(ts, entry, fragile=payload.kind != "protoPayload")
