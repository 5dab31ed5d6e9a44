"""The JSON shapes we read (a Cloud Logging LogEntry, a Pub/Sub push envelope) and their decoding.

msgspec checks every field's JSON type while it decodes; fields we do not read are
skipped unvalidated. Decoding failures become InvalidInput with the reason they mean.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from pipeline.parsing.rejection import (
    InvalidInput,
    RejectReason,
    binary_error,
    check_utf8,
    looks_binary,
)

_MSGSPEC_TYPE_ERROR = re.compile(r"Expected `(.+?)`, got `(.+?)`(?: - at `\$\.?(.*)`)?\Z")
_MSGSPEC_AT = re.compile(r"(.*) - at `\$\.?(.*)`\Z")
_JSON_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "array": "an array",
    "object": "an object",
}


class WireResource(msgspec.Struct, gc=False):
    type: str = "global"
    labels: dict[str, str] = {}


class WireHttpRequest(msgspec.Struct, rename="camel", gc=False):
    request_method: str | None = None
    request_url: str | None = None
    status: int | str | None = None
    latency: str | None = None


class WireFields(msgspec.Struct, rename="camel", gc=False):
    """The fields of a LogEntry that Logwarden reads, with the JSON types they may hold,
    but for its labels (see the two kinds of entry below)."""

    insert_id: str | None = None
    log_name: str | None = None
    timestamp: str | None = None
    receive_timestamp: str | None = None
    severity: str | int | None = None
    text_payload: str | None = None
    json_payload: dict[str, Any] | None = None
    proto_payload: dict[str, Any] | None = None
    http_request: WireHttpRequest | None = None
    trace: str | None = None
    span_id: str | None = None


class WireEntry(WireFields):
    """A LogEntry with its labels decoded."""

    resource: WireResource | None = None
    labels: dict[str, str] | None = None


class RawLabelsEntry(WireFields):
    """A LogEntry with its resource and labels still JSON, for `shared_resource` and
    `shared_labels` (empty when absent)."""

    resource: msgspec.Raw = msgspec.Raw()
    labels: msgspec.Raw = msgspec.Raw()


class WirePushMessage(msgspec.Struct, gc=False):
    data: str | None = None
    attributes: dict[str, str] | None = None
    messageId: str | None = None  # the wire's spelling
    message_id: str | None = None
    publishTime: str | None = None
    publish_time: str | None = None


class WirePushEnvelope(msgspec.Struct, gc=False):
    message: WirePushMessage | None = None
    subscription: str | None = None


ENTRY_DECODER = msgspec.json.Decoder(WireEntry)
RAW_LABELS_DECODER = msgspec.json.Decoder(RawLabelsEntry)
_RESOURCE_DECODER = msgspec.json.Decoder(WireResource | None)
_LABELS_DECODER = msgspec.json.Decoder(dict[str, str] | None)
_ENVELOPE_DECODER = msgspec.json.Decoder(WirePushEnvelope)
_ANY_DECODER = msgspec.json.Decoder()
# What decoding raises for input that is not what it should be (see `decoding_error`).
DECODING_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


def decode_entry(data: bytes | str) -> WireEntry:
    """Decodes one LogEntry; raises InvalidInput for anything that is not one."""
    # The decoder is called here, not in a helper shared with decode_envelope: that was one
    # more Python call an entry. Only the failures share one.
    try:
        return ENTRY_DECODER.decode(data)
    except DECODING_ERRORS as error:
        raise decoding_error(error, data, "entry") from None


# The entries of a stream repeat one resource (and mostly one set of labels, or none): the
# entries share one decoded copy of each, found by its JSON. Hashing the JSON costs less
# than decoding it, and every pass over the entries' labels then meets a few dicts rather
# than one an entry. Bounded: emptied when full, and a long JSON is decoded each time.
SHARED_MAX = 4096
SHARED_MAX_BYTES = 1024
NO_LABELS: dict[str, str] = {}  # shared; entries never change their labels in place
_K = TypeVar("_K")
_V = TypeVar("_V")
_resources: dict[bytes, WireResource] = {}
_labels: dict[bytes, dict[str, str]] = {}


def shared_resource(json: bytes) -> WireResource | None:
    """The resource of a RawLabelsEntry (its JSON), the one copy of it; raises what
    decoding does."""
    if not json:
        return None
    found = _resources.get(json)
    if found is None:
        found = _RESOURCE_DECODER.decode(json)
        if found is not None:  # (null: None, not kept)
            keep_bounded(_resources, json, found, len(json))
    return found


def shared_labels(json: bytes) -> dict[str, str]:
    """The labels of a RawLabelsEntry (their JSON), the one copy of them (NO_LABELS for
    none or empty); raises what decoding does."""
    if not json:
        return NO_LABELS
    found = _labels.get(json)
    if found is None:
        found = _LABELS_DECODER.decode(json) or NO_LABELS
        keep_bounded(_labels, json, found, len(json))
    return found


def keep_bounded(table: dict[_K, _V], key: _K, value: _V, size: int) -> None:
    """Keeps `value` for later entries with the same JSON (`size` bytes of it), but for a
    long one (memory); a full table is emptied first."""
    if size <= SHARED_MAX_BYTES:
        if len(table) >= SHARED_MAX:
            table.clear()
        table[key] = value


def entry_error(data: bytes, error: Exception) -> InvalidInput:
    """The InvalidInput for an entry RAW_LABELS_DECODER or the shared labels failed on:
    the one decoding it whole with ENTRY_DECODER gives, which names the first field in
    the entry that is wrong, wherever it is (`error`, which may be another, only if that
    decoding succeeds, which it should not)."""
    try:
        ENTRY_DECODER.decode(data)
    except DECODING_ERRORS as first:
        return decoding_error(first, data, "entry")
    return decoding_error(error, data, "entry")


def decode_envelope(data: bytes | str) -> WirePushEnvelope:
    """Decodes a push envelope; raises InvalidInput for anything that is not one."""
    try:
        return _ENVELOPE_DECODER.decode(data)
    except DECODING_ERRORS as error:
        raise decoding_error(error, data, "push body") from None


def decoding_error(error: Exception, data: bytes | str, what: str) -> InvalidInput:
    """The InvalidInput for a failed decode (msgspec.ValidationError is a DecodeError)."""
    if isinstance(error, msgspec.ValidationError):
        return _validation_error(data, str(error), what)
    if isinstance(error, msgspec.DecodeError):
        return _decode_error(data, str(error), what)
    if isinstance(error, RecursionError):
        return _too_deep(what)
    # UnicodeDecodeError: msgspec checks UTF-8 only in the fields it keeps
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    check_utf8(raw)
    return InvalidInput(RejectReason.INVALID_UTF8, f"The {what} is not UTF-8: {error}.")


def _validation_error(data: bytes | str, message: str, what: str) -> InvalidInput:
    match = _MSGSPEC_TYPE_ERROR.match(message)
    if match and match[3] is None:
        return InvalidInput(
            RejectReason.NOT_AN_OBJECT,
            f"The {what} is {_json_type(match[2])}, not a JSON object.",
        )
    if match:
        *others, last = (_json_type(name) for name in match[1].split(" | "))
        expected = f"{', '.join(others)} or {last}" if others else last
        return InvalidInput(
            RejectReason.WRONG_TYPE,
            f"{_field(match[3])} holds {_json_type(match[2])} where {expected} belongs.",
        )
    at = _MSGSPEC_AT.match(message)
    where = _field(at[2]).lower() if at else f"the {what}"
    problem = at[1] if at else message
    return InvalidInput(RejectReason.WRONG_TYPE, f"In {where}: {problem}.")


def _json_type(msgspec_name: str) -> str:
    return _JSON_TYPES.get(msgspec_name, msgspec_name)


def _field(path: str) -> str:
    """A msgspec path (`labels[...]`) in words."""
    if path.endswith("[...]"):
        return f"A value of field {path[:-5]}"
    return f"Field {path}"


def _decode_error(data: bytes | str, message: str, what: str) -> InvalidInput:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if looks_binary(raw):
        return binary_error(raw)
    if message == "Input data was truncated":
        return InvalidInput(RejectReason.INVALID_JSON, f"The {what} is JSON cut short.")
    problem = message.removeprefix("JSON is malformed: ")
    return InvalidInput(RejectReason.INVALID_JSON, f"The {what} is not valid JSON: {problem}.")


def _too_deep(what: str) -> InvalidInput:
    return InvalidInput(RejectReason.TOO_DEEP, f"The {what} nests JSON deeper than we accept.")


def check_depth(data: bytes, payload: object, limit: int) -> None:
    """Raises InvalidInput(TOO_DEEP) when `payload` nests containers deeper than `limit`."""
    # Counting brackets is a fast C scan; only a bracket-heavy entry needs the walk.
    if payload is None or data.count(b"{") + data.count(b"[") <= limit:
        return
    level: list[tuple[dict[str, Any] | list[Any], int]] = []
    if isinstance(payload, dict | list):
        level.append((payload, 1))
    while level:
        node, depth = level.pop()
        if depth > limit:
            raise InvalidInput(
                RejectReason.TOO_DEEP,
                f"The payload nests objects and arrays more than {limit} levels deep.",
            )
        children = node.values() if isinstance(node, dict) else node
        level.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def decode_any(data: bytes | str) -> Any:
    """Plain decoding (dicts and lists), for looking at an input that failed the typed decode."""
    try:
        return _ANY_DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
