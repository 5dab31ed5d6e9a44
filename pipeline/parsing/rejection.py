"""Why an input could not become a LogEntry, kept with the input for the dead-letter store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_STORED_RAW = 64 * 1024  # a rejection keeps this much of its input
DEFAULT_MAX_ENTRY_BYTES = 256 * 1024  # Cloud Logging's own limit for one entry

# Bytes that do not occur in text: C0 controls except \t \n \v \f \r and ESC (colour codes).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_CONTROL = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")
_BINARY_CONTROL_SHARE = 0.05


class RejectReason(StrEnum):
    """What was wrong with an input; a bounded set, fit for a metric label."""

    EMPTY = "empty"
    OVERSIZED = "oversized"
    BINARY = "binary"  # NUL bytes or mostly control characters
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"  # valid JSON, but an array, number, string, ...
    TOO_DEEP = "too_deep"  # pathological nesting
    WRONG_TYPE = "wrong_type"  # a field holds a JSON type (or format) it may not hold
    MISSING_PAYLOAD = "missing_payload"
    UNKNOWN_PAYLOAD = "unknown_payload"  # a payload of a kind we cannot read
    BAD_TIMESTAMP = "bad_timestamp"  # unparseable, impossible or absurd
    BAD_SEVERITY = "bad_severity"
    BAD_ENVELOPE = "bad_envelope"  # the Pub/Sub push envelope around the entry
    BAD_BASE64 = "bad_base64"
    PARSER_BUG = "parser_bug"  # the parser itself failed: never expected, always a bug
    PROCESSING_FAILED = "processing_failed"  # its batch failed for good: kept for replay


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that is dead-lettered: never retried, stored with its reason."""

    reason: RejectReason
    detail: str  # one sentence: what is wrong, and where
    raw: bytes  # the input, cut to MAX_STORED_RAW bytes
    raw_size: int  # the full size of the input
    source: str = ""  # a Pub/Sub message id, or `file.jsonl:123`

    @classmethod
    def of(cls, reason: RejectReason, detail: str, raw: bytes, source: str) -> Rejection:
        return cls(reason, detail, raw[:MAX_STORED_RAW], len(raw), source)


class InvalidInput(Exception):
    """Raised inside the parser only; each public parse function turns it into a Rejection."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def looks_binary(data: bytes) -> bool:
    """True for NUL bytes or a share of control bytes that no text has."""
    if b"\x00" in data:
        return True
    if _CONTROL.search(data) is None:
        return False
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    return controls > _BINARY_CONTROL_SHARE * len(data)


def as_bytes(raw: bytes | str) -> bytes:
    """The input as bytes; a str with lone surrogates raises InvalidInput(INVALID_UTF8)."""
    if isinstance(raw, bytes):
        return raw
    try:
        return raw.encode()
    except UnicodeEncodeError as error:
        raise InvalidInput(
            RejectReason.INVALID_UTF8,
            f"Character {error.start} is a lone surrogate, which UTF-8 cannot encode.",
        ) from None


def stored_bytes(raw: object) -> bytes:
    """Whatever came in, as bytes fit to store (never raises)."""
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    return repr(raw).encode("utf-8", "backslashreplace")


def check_size(data: bytes, max_bytes: int, what: str = "entry") -> None:
    """Raises InvalidInput for an empty or oversized input."""
    if not data or data.isspace():
        raise InvalidInput(RejectReason.EMPTY, f"The {what} is empty or only whitespace.")
    if len(data) > max_bytes:
        raise InvalidInput(
            RejectReason.OVERSIZED,
            f"The {what} is {len(data)} bytes, over the limit of {max_bytes} bytes.",
        )


def check_utf8(data: bytes) -> str:
    """The decoded text; raises InvalidInput(BINARY or INVALID_UTF8) when it is not text."""
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        if looks_binary(data):
            raise binary_error(data) from None
        bad = data[error.start : error.start + 4]
        raise InvalidInput(
            RejectReason.INVALID_UTF8,
            f"Byte {error.start} ({bad!r}) starts an invalid UTF-8 sequence.",
        ) from None


def binary_error(data: bytes) -> InvalidInput:
    """The InvalidInput for data that `looks_binary`."""
    where = data.find(b"\x00")
    at = f" (a NUL at byte {where})" if where >= 0 else ""
    return InvalidInput(RejectReason.BINARY, f"The input is binary data, not text{at}.")


def quote(value: object, limit: int = 60) -> str:
    """A value for a detail sentence: repr'd and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
