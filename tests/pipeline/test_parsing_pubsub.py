"""Log-sink messages from Pub/Sub: pulled messages and push envelopes."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest

from pipeline.entry import LogEntry
from pipeline.parsing import (
    TIMESTAMP_ATTRIBUTE,
    Rejection,
    RejectReason,
    parse_pubsub_message,
    parse_push_body,
)
from tests.pipeline.test_parsing import audit_log_entry, encode, gke_container_entry, ns_of

SUBSCRIPTION = "projects/acme-prod/subscriptions/logwarden-push"
PUBLISHED = "2024-05-01T12:00:02.5Z"


def push_body(data: bytes | str | None, **message: Any) -> bytes:
    fields: dict[str, Any] = {
        "attributes": {TIMESTAMP_ATTRIBUTE: "2024-05-01T12:00:00.1Z"},
        "messageId": "11044203925553341",
        "message_id": "11044203925553341",
        "publishTime": PUBLISHED,
        "publish_time": PUBLISHED,
    }
    if data is not None:
        fields["data"] = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    fields.update(message)
    return json.dumps({"message": fields, "subscription": SUBSCRIPTION}).encode()


def test_push_body_yields_the_message_id_and_the_entry() -> None:
    data = encode(audit_log_entry())
    message_id, entry = parse_push_body(push_body(data))
    assert message_id == "11044203925553341"
    assert isinstance(entry, LogEntry)
    assert entry.message.startswith("AuditLog run.googleapis.com")
    assert entry.size == len(data)


def test_push_entry_without_timestamp_takes_the_attribute_then_the_publish_time() -> None:
    source = gke_container_entry()
    del source["timestamp"], source["receiveTimestamp"]
    _, entry = parse_push_body(push_body(encode(source)))
    assert isinstance(entry, LogEntry)
    assert entry.timestamp_ns == ns_of("2024-05-01T12:00:00.1Z")
    assert entry.receive_timestamp_ns == ns_of(PUBLISHED)
    _, entry = parse_push_body(push_body(encode(source), attributes={}))
    assert isinstance(entry, LogEntry)
    assert entry.timestamp_ns == ns_of(PUBLISHED)


def test_push_body_without_message_id_gets_a_stable_hash() -> None:
    body = push_body(encode(gke_container_entry()), messageId=None, message_id=None)
    first, _ = parse_push_body(body)
    again, _ = parse_push_body(body)
    assert first == again and first.startswith("body-")
    other, _ = parse_push_body(
        push_body(encode(audit_log_entry()), messageId=None, message_id=None)
    )
    assert other != first


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", RejectReason.BAD_ENVELOPE),
        (b"not json", RejectReason.BAD_ENVELOPE),
        (b'{"subscription": "' + SUBSCRIPTION.encode() + b'"}', RejectReason.BAD_ENVELOPE),
        (b'{"message": "hello"}', RejectReason.BAD_ENVELOPE),
        (b'[{"message": {}}]', RejectReason.BAD_ENVELOPE),
        (push_body(encode(gke_container_entry()), attributes={"a": 1}), RejectReason.BAD_ENVELOPE),
        (push_body(encode(gke_container_entry()), publishTime="noon"), RejectReason.BAD_ENVELOPE),
        (push_body("eyJ0ZXh0UGF5bG9hZCI6*"), RejectReason.BAD_BASE64),
        (push_body("eyJ0ZXh0UGF5bG9hZCI6I"), RejectReason.BAD_BASE64),
        (push_body("dGV4dA==é"), RejectReason.BAD_BASE64),
        (push_body(None), RejectReason.EMPTY),
        (push_body(b"[1, 2, 3]"), RejectReason.NOT_AN_OBJECT),
        (push_body(b'{"kind": "not a log entry"}'), RejectReason.MISSING_PAYLOAD),
        (push_body(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), RejectReason.BINARY),
        (push_body(b"x" * 300_000), RejectReason.OVERSIZED),
        (b'{"message": {"data": "' + b"A" * 2_000_000 + b'"}}', RejectReason.OVERSIZED),
    ],
    ids=[
        "empty body", "not json", "no message", "message a string", "array envelope",
        "attributes not strings", "bad publishTime", "base64 bad character",
        "base64 bad padding", "base64 non-ascii", "no data", "data not an object",
        "data not a log entry", "data binary", "data oversized", "body oversized",
    ],
)  # fmt: skip
def test_bad_push_bodies(body: bytes, reason: RejectReason) -> None:
    message_id, result = parse_push_body(body)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.detail
    assert message_id and result.source == message_id


def test_envelope_rejection_keeps_the_body_and_data_rejection_keeps_the_data() -> None:
    body = b'{"message": {"data": "!!", "messageId": "7"}}'
    _, result = parse_push_body(body)
    assert isinstance(result, Rejection) and result.raw == body
    _, result = parse_push_body(push_body(b"[1]"))
    assert isinstance(result, Rejection) and result.raw == b"[1]"


def test_pulled_message() -> None:
    data = encode(gke_container_entry())
    entry = parse_pubsub_message(data, {}, "42", None)
    assert isinstance(entry, LogEntry)
    assert entry.insert_id == "4l1x8rfm6k2b1t7q"


def test_pulled_message_timestamp_fallbacks() -> None:
    source = gke_container_entry()
    del source["timestamp"], source["receiveTimestamp"]
    data = encode(source)
    publish_ns = ns_of(PUBLISHED)
    by_attribute = parse_pubsub_message(
        data, {TIMESTAMP_ATTRIBUTE: "2024-05-01T12:00:00Z"}, "1", publish_ns
    )
    by_publish = parse_pubsub_message(data, {TIMESTAMP_ATTRIBUTE: "garbage"}, "1", publish_ns)
    assert isinstance(by_attribute, LogEntry) and isinstance(by_publish, LogEntry)
    assert by_attribute.timestamp_ns == ns_of("2024-05-01T12:00:00Z")
    assert by_publish.timestamp_ns == publish_ns
    rejected = parse_pubsub_message(data, {}, "1", None)
    assert isinstance(rejected, Rejection)
    assert (rejected.reason, rejected.source) == (RejectReason.BAD_TIMESTAMP, "1")


def test_redelivered_message_without_insert_id_gets_the_same_id() -> None:
    source = gke_container_entry()
    del source["insertId"]
    data = encode(source)
    first = parse_pubsub_message(data, {}, "1", None)
    again = parse_pubsub_message(data, {}, "2", None)
    assert isinstance(first, LogEntry) and isinstance(again, LogEntry)
    assert first.insert_id == again.insert_id


def _eager(data: bytes, attributes: dict[str, str], publish_ns: int | None) -> object:
    """What parse_pubsub_message gave when it parsed the attribute for every message."""
    from pipeline.parsing.logentry import parse_entry_or_reject
    from pipeline.parsing.rejection import DEFAULT_MAX_ENTRY_BYTES
    from pipeline.parsing.timestamps import TimestampError, rfc3339_ns

    fallback_ns = publish_ns
    stamp = attributes.get(TIMESTAMP_ATTRIBUTE)
    if stamp is not None:
        with contextlib.suppress(TimestampError):
            fallback_ns = rfc3339_ns(stamp)
    return parse_entry_or_reject(data, "m-1", DEFAULT_MAX_ENTRY_BYTES, fallback_ns, publish_ns)


def _times_variants() -> list[bytes]:
    own = gke_container_entry()
    received_only = gke_container_entry()
    del received_only["timestamp"]
    neither = gke_container_entry()
    del neither["timestamp"], neither["receiveTimestamp"]
    bad_own = {**gke_container_entry(), "timestamp": "noon"}
    return [encode(own), encode(received_only), encode(neither), encode(bad_own), b"{not json"]


ATTRIBUTES = [{}, {"other": "x"}, {TIMESTAMP_ATTRIBUTE: "2024-05-01T11:59:00.25Z"},
              {TIMESTAMP_ATTRIBUTE: "2024-05-01T13:59:00+02:00"},
              {TIMESTAMP_ATTRIBUTE: "garbage"}, {TIMESTAMP_ATTRIBUTE: ""},
              {TIMESTAMP_ATTRIBUTE: "2500-01-01T00:00:00Z"},
              {TIMESTAMP_ATTRIBUTE: "2024-13-01T00:00:00Z"}]  # fmt: skip


@pytest.mark.parametrize("attributes", ATTRIBUTES)
@pytest.mark.parametrize("publish_ns", [None, ns_of(PUBLISHED)])
def test_the_attribute_gives_what_it_gave_when_parsed_for_every_message(
    attributes: dict[str, str], publish_ns: int | None
) -> None:
    for data in _times_variants():
        expected = _eager(data, attributes, publish_ns)
        assert parse_pubsub_message(data, attributes, "m-1", publish_ns) == expected


def test_the_attribute_is_parsed_only_for_an_entry_without_times(monkeypatch) -> None:
    from pipeline.parsing import pubsub, timestamps

    parsed: list[str] = []

    def counted(text: str) -> int:
        parsed.append(text)
        return timestamps.rfc3339_ns(text)

    monkeypatch.setattr(pubsub, "rfc3339_ns", counted)
    own, received_only, neither, _, _ = _times_variants()
    attributes = {TIMESTAMP_ATTRIBUTE: "2024-05-01T11:59:00Z"}
    for data in (own, received_only, b"{not json"):
        parse_pubsub_message(data, attributes, "m-1", ns_of(PUBLISHED))
    assert parsed == []
    entry = parse_pubsub_message(neither, attributes, "m-1", ns_of(PUBLISHED))
    assert isinstance(entry, LogEntry) and entry.timestamp_ns == ns_of("2024-05-01T11:59:00Z")
    assert parsed == ["2024-05-01T11:59:00Z"]
    garbage = parse_pubsub_message(neither, {TIMESTAMP_ATTRIBUTE: "garbage"}, "m-1", None)
    assert isinstance(garbage, Rejection) and garbage.reason is RejectReason.BAD_TIMESTAMP
