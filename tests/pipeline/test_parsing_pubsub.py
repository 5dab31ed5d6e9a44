"""Log-sink messages from Pub/Sub: pulled messages and push envelopes."""

from __future__ import annotations

import base64
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
