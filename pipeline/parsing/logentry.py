"""One Cloud Logging LogEntry JSON, exactly as a log sink writes it, into a LogEntry."""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.entry import LogEntry
from pipeline.parsing.fields import (
    SEVERITY_BY_NAME,
    http_status_of,
    labelled_service,
    latency_s_of,
    log_name_parts,
    severity_of,
    synthetic_insert_id,
)
from pipeline.parsing.payloads import Payload, message_and_payload
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    InvalidInput,
    Rejection,
    RejectReason,
    as_bytes,
    check_size,
    check_utf8,
    quote,
    stored_bytes,
)
from pipeline.parsing.timestamps import TimestampError, rfc3339_ns
from pipeline.parsing.wire import (
    DECODING_ERRORS,
    NO_LABELS,
    RAW_LABELS_DECODER,
    WireFields,
    check_depth,
    entry_error,
    keep_bounded,
    shared_labels,
    shared_resource,
)

MAX_DEPTH = 64  # containers within containers in a payload; real logs stay far below
_BOM = b"\xef\xbb\xbf"
_BOM_START = _BOM[0]
# JSON may spell NUL as \u0000 (unless its backslash is itself escaped: "\\u0000" is
# text). No log line means it, and no Postgres text column can hold it: a single one would
# fail the whole batch's transaction. It becomes U+FFFD, as an undecodable byte would.
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
# Most entries hold no backslash at all: looking for one byte is a memchr, a tenth of the
# time of looking for the six of the escape in every entry.
_BACKSLASH = ord("\\")

# What an entry's resource, labels and log name make of it: (resource type, resource
# labels, labels, project, service). The entries of a stream repeat all three, so each
# combination is worked out once and found again by its JSON (and log name) in one
# look-up; bounded like the shared labels it holds.
_Stream = tuple[str, dict[str, str], dict[str, str], str, str]
_StreamKey = tuple[bytes, bytes, str | None]
_streams: dict[_StreamKey, _Stream] = {}


def parse_entry(
    raw: bytes | str,
    *,
    source: str = "",
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    receive_ns: int | None = None,
) -> LogEntry | Rejection:
    """Parses one LogEntry JSON; never raises.

    The timestamp falls back to receiveTimestamp, then to `receive_ns` (when we received
    it); an entry without insertId gets one hashed from its bytes, so a redelivered copy
    gets the same id. Anything unusable comes back as a Rejection naming `source`.
    """
    return parse_entry_or_reject(raw, source, max_bytes, receive_ns, receive_ns)


def parse_entry_or_reject(
    raw: bytes | str,
    source: str,
    max_bytes: int,
    fallback_ns: int | Callable[[], int | None] | None,
    receive_ns: int | None,
    project: str = "",
) -> LogEntry | Rejection:
    """parse_entry, with the timestamp fallback apart from the receive time; never raises.

    The fallback may be a function giving it, called only for an entry that needs it (one
    with neither timestamp nor receiveTimestamp). A non-empty `source` (the Pub/Sub
    message id, `file:line`) is the entry's delivery id. `project` is the project of an
    entry that names none.
    """
    try:
        data = raw if type(raw) is bytes else as_bytes(raw)  # nearly every input is bytes
        return entry_of(data, len(data), max_bytes, fallback_ns, receive_ns, source, project)
    except InvalidInput as error:
        return Rejection.of(error.reason, error.detail, stored_bytes(raw), source)
    except Exception as error:  # the last guard of "parsing never raises"
        return parser_bug(error, raw, source)


def parser_bug(error: Exception, raw: object, source: str) -> Rejection:
    """The Rejection for an input the parser itself failed on (a bug to fix, not bad input)."""
    detail = f"The parser failed on this input with {type(error).__name__}: {quote(str(error))}."
    return Rejection.of(RejectReason.PARSER_BUG, detail, stored_bytes(raw), source)


def entry_of(
    data: bytes, size: int, max_bytes: int, fallback_ns: int | Callable[[], int | None] | None,
    receive_ns: int | None, delivery_id: str, default_project: str,
) -> LogEntry:
    """The entry of `data`'s first `size` bytes; raises InvalidInput (see
    `parse_entry_or_reject`). What follows them may only be whitespace, which JSON ignores
    (a line's end: a file's lines are parsed without a copy that cuts it off); when it is
    not empty, the errors may differ from those of the bytes alone."""
    # Each Python call and each new object counts, once an entry: the checks and the
    # decoding every entry goes through are written out here; their helpers make the
    # errors.
    if not data or size > max_bytes or data.isspace():
        check_size(data[:size], max_bytes)  # raises
    # The first byte (a small int, no new object) rules out a BOM in most entries.
    body = data[3:] if data[0] == _BOM_START and data[:3] == _BOM else data
    if not body.isascii():
        check_utf8(body)
    if _BACKSLASH in body and b"\\u0000" in body:
        body = _NUL_ESCAPE.sub(rb"\1\\ufffd", body)
    try:
        wire = RAW_LABELS_DECODER.decode(body)
    except DECODING_ERRORS as error:
        raise entry_error(body, error) from None
    stream_key = (bytes(wire.resource), bytes(wire.labels), wire.log_name)
    stream = _streams.get(stream_key) or _stream(stream_key, body)
    resource_type, resource_labels, labels, project, service = stream
    # The usual entries, a textPayload and a timestamp alone, without the calls that sort
    # out the others: they were a tenth of parsing such an entry.
    message: str | None = wire.text_payload
    payload: Payload = None
    if message is None or wire.json_payload is not None or wire.proto_payload is not None:
        if (structured := wire.json_payload or wire.proto_payload) is not None:
            check_depth(body, structured, MAX_DEPTH)
        message, payload = message_and_payload(wire, body)
    received_ns, assumed = receive_ns, False
    if wire.timestamp is not None and wire.receive_timestamp is None:
        try:
            timestamp_ns = rfc3339_ns(wire.timestamp)
        except TimestampError as error:
            raise _bad_time(wire.timestamp, "timestamp", error) from None
    else:
        timestamp_ns, received_ns, assumed = _times(wire, fallback_ns, receive_ns)
    http = wire.http_request
    if (severity := SEVERITY_BY_NAME.get(wire.severity)) is None:  # the usual names
        severity = severity_of(wire.severity)
    # Every field by position, in LogEntry's order: msgspec then matches no keyword names
    # (and CPython 3.11 compiles a call of more than 30 stack slots, two a keyword, into
    # one through a dict of the keywords). The comments name the fields.
    return LogEntry(
        wire.insert_id or synthetic_insert_id(body[:size]),  # insert_id (of the size's bytes)
        timestamp_ns,
        severity,
        message,
        project or default_project,  # project
        service,
        wire.log_name or "",  # log_name
        resource_type,
        resource_labels,
        labels,
        payload,
        received_ns,  # receive_timestamp_ns
        wire.trace,
        wire.span_id,
        http_status_of(http.status) if http else None,  # http_status
        latency_s_of(http.latency) if http else None,  # http_latency_s
        size,
        delivery_id,
        assumed,  # time_assumed
    )


def _stream(key: _StreamKey, body: bytes) -> _Stream:
    """What the resource, labels (their JSON) and log name of `key` make of an entry (see
    `_streams`); raises InvalidInput for the entry `body` when they do not decode."""
    resource_json, labels_json, log_name = key
    try:
        resource = shared_resource(resource_json)
        labels = shared_labels(labels_json)
    except DECODING_ERRORS as error:
        raise entry_error(body, error) from None
    resource_type = (resource.type if resource else "") or "global"
    resource_labels = (resource.labels or NO_LABELS) if resource else NO_LABELS
    project = resource_labels.get("project_id", "")
    service = labelled_service(resource_labels, labels)
    if not project or not service:
        project, service = _named_by_log(project, service, log_name or "", resource_type)
    stream = (resource_type, resource_labels, labels, project, service)
    size = len(resource_json) + len(labels_json) + len(log_name or "")
    keep_bounded(_streams, key, stream, size)
    return stream


def _named_by_log(project: str, service: str, log_name: str, resource_type: str
                  ) -> tuple[str, str]:
    """The project and service an entry's labels left unnamed, taken from its log name
    (the service, failing that, from its resource type)."""
    log_project, log_short_name = log_name_parts(log_name)
    return project or log_project, service or log_short_name or resource_type


def _times(
    wire: WireFields, fallback_ns: int | Callable[[], int | None] | None, receive_ns: int | None
) -> tuple[int, int | None, bool]:
    """(timestamp, receive timestamp) of an entry, each with its fallback, and whether the
    timestamp is a fallback of its delivery rather than a time the entry holds."""
    received_ns = receive_ns
    if wire.receive_timestamp is not None:
        received_ns = _time_field(wire.receive_timestamp, "receiveTimestamp")
        if wire.timestamp is None:
            return received_ns, received_ns, False
    if wire.timestamp is not None:
        return _time_field(wire.timestamp, "timestamp"), received_ns, False
    if callable(fallback_ns):
        fallback_ns = fallback_ns()
    if fallback_ns is None:
        raise InvalidInput(
            RejectReason.BAD_TIMESTAMP,
            "The entry has neither timestamp nor receiveTimestamp, and no receive time was given.",
        )
    return fallback_ns, received_ns, True


def _time_field(value: str, field: str) -> int:
    try:
        return rfc3339_ns(value)
    except TimestampError as error:
        raise _bad_time(value, field, error) from None


def _bad_time(value: str, field: str, error: TimestampError) -> InvalidInput:
    return InvalidInput(
        RejectReason.BAD_TIMESTAMP, f"Field {field} holds {quote(value)}, which {error}."
    )
