"""Bad input to parse_entry: each kind gets its reason code and a sentence, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.parsing import MAX_STORED_RAW, Rejection, RejectReason, parse_entry
from tests.pipeline.test_parsing import cloud_run_entry, encode, gke_container_entry

R = RejectReason


def with_field(path: str, value: Any, base: dict[str, Any] | None = None) -> bytes:
    """A good entry with one field (dotted path) set to `value`."""
    entry = base if base is not None else cloud_run_entry()
    *parents, last = path.split(".")
    node = entry
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return encode(entry)


def without(*keys: str) -> bytes:
    entry = cloud_run_entry()
    for key in keys:
        del entry[key]
    return encode(entry)


def nested(depth: int) -> bytes:
    return (
        b'{"timestamp":"2024-05-01T12:00:00Z","jsonPayload":'
        + b'{"a":' * depth
        + b"1"
        + (b"}" * (depth + 1))
    )


GOOD = encode(cloud_run_entry())

BAD_INPUTS: list[tuple[str, bytes | str, RejectReason]] = [
    ("empty", b"", R.EMPTY),
    ("whitespace", b" \t\r\n ", R.EMPTY),
    ("truncated json", GOOD[: len(GOOD) // 2], R.INVALID_JSON),
    ("trailing garbage", GOOD + b" }", R.INVALID_JSON),
    ("single quotes", b"{'textPayload': 'x'}", R.INVALID_JSON),
    ("nan", b'{"jsonPayload": {"v": NaN}}', R.INVALID_JSON),
    ("top-level array", b'[{"textPayload": "x"}]', R.NOT_AN_OBJECT),
    ("top-level number", b"42", R.NOT_AN_OBJECT),
    ("top-level string", b'"textPayload"', R.NOT_AN_OBJECT),
    ("top-level null", b"null", R.NOT_AN_OBJECT),
    (
        "invalid utf-8 in a payload",
        GOOD.replace(b"timed out", b"timed \xff\xfe out"),
        R.INVALID_UTF8,
    ),
    (
        "invalid utf-8 in a skipped field",
        GOOD.replace(b"curl/8.0", b"curl/\xc3\x28"),
        R.INVALID_UTF8,
    ),
    ("lone surrogate in a str", '{"textPayload": "\ud800"}', R.INVALID_UTF8),
    ("1 MiB payload", with_field("jsonPayload.blob", "x" * (1 << 20)), R.OVERSIZED),
    ("binary garbage", bytes(range(256)) * 4, R.BINARY),
    ("NUL bytes", GOOD.replace(b"timed out", b"timed\x00out"), R.BINARY),
    ("control characters", b"{\x01\x02\x03\x04\x05\x06\x07\x08}", R.BINARY),
    ("deep nesting", nested(65), R.TOO_DEEP),
    ("deeper than the decoder", nested(5000), R.TOO_DEEP),
    ("no payload", without("jsonPayload", "httpRequest"), R.MISSING_PAYLOAD),
    ("an unknown payload kind", with_field("binaryPayload", "AAAA", {}), R.UNKNOWN_PAYLOAD),
    ("two payloads", with_field("textPayload", "also text"), R.UNKNOWN_PAYLOAD),
    (
        "protoPayload without @type",
        with_field("protoPayload", {"methodName": "x"}, {}),
        R.UNKNOWN_PAYLOAD,
    ),
    ("severity as a list", with_field("severity", ["ERROR"]), R.WRONG_TYPE),
    ("severity as a boolean", with_field("severity", True), R.WRONG_TYPE),
    ("labels not a map of strings", with_field("labels", {"attempt": 3}), R.WRONG_TYPE),
    ("labels as a list", with_field("labels", ["a", "b"]), R.WRONG_TYPE),
    ("resource labels nested", with_field("resource.labels", {"zone": {"a": 1}}), R.WRONG_TYPE),
    ("resource type a number", with_field("resource.type", 7), R.WRONG_TYPE),
    ("httpRequest.status 'abc'", with_field("httpRequest.status", "abc"), R.WRONG_TYPE),
    ("httpRequest.status a float", with_field("httpRequest.status", 200.5), R.WRONG_TYPE),
    ("httpRequest.status out of range", with_field("httpRequest.status", 70000), R.WRONG_TYPE),
    ("httpRequest.latency no unit", with_field("httpRequest.latency", "0.25"), R.WRONG_TYPE),
    ("httpRequest not an object", with_field("httpRequest", "GET /"), R.WRONG_TYPE),
    ("textPayload a number", encode({"textPayload": 12}), R.WRONG_TYPE),
    ("jsonPayload a string", with_field("jsonPayload", '{"message": "x"}'), R.WRONG_TYPE),
    ("insertId a number", with_field("insertId", 12345), R.WRONG_TYPE),
    ("trace an object", with_field("trace", {"id": "abc"}), R.WRONG_TYPE),
    ("timestamp a number", with_field("timestamp", 1714564800), R.WRONG_TYPE),
    (
        "audit methodName a list",
        with_field(
            "protoPayload",
            {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "methodName": ["x"]},
            {"timestamp": "2024-05-01T12:00:00Z"},
        ),
        R.WRONG_TYPE,
    ),
    ("month 13 day 45", with_field("timestamp", "2024-13-45T10:00:00Z"), R.BAD_TIMESTAMP),
    ("yesterday", with_field("timestamp", "yesterday"), R.BAD_TIMESTAMP),
    ("29 february 2023", with_field("timestamp", "2023-02-29T10:00:00Z"), R.BAD_TIMESTAMP),
    ("hour 25", with_field("timestamp", "2024-05-01T25:00:00Z"), R.BAD_TIMESTAMP),
    ("no zone", with_field("timestamp", "2024-05-01T12:00:00"), R.BAD_TIMESTAMP),
    ("year 9999", with_field("timestamp", "9999-12-31T23:59:59Z"), R.BAD_TIMESTAMP),
    ("before 1970", with_field("timestamp", "1969-12-31T23:59:59Z"), R.BAD_TIMESTAMP),
    ("bad receiveTimestamp", with_field("receiveTimestamp", "soon"), R.BAD_TIMESTAMP),
    ("unknown severity name", with_field("severity", "LOUD"), R.BAD_SEVERITY),
    ("unknown severity number", with_field("severity", 450), R.BAD_SEVERITY),
    ("negative severity", with_field("severity", -1), R.BAD_SEVERITY),
]


@pytest.mark.parametrize(("raw", "reason"), [(r, c) for _, r, c in BAD_INPUTS],
                         ids=[name for name, _, _ in BAD_INPUTS])  # fmt: skip
def test_bad_input_is_rejected_with_its_reason(raw: bytes | str, reason: RejectReason) -> None:
    result = parse_entry(raw, source="sink.jsonl:3", receive_ns=1)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.detail
    assert result.source == "sink.jsonl:3"
    assert result.detail.endswith(".") and "\n" not in result.detail
    assert result.detail[0].isupper()


def test_there_are_many_distinct_kinds_of_bad_input() -> None:
    assert len(BAD_INPUTS) >= 25
    assert len({reason for _, _, reason in BAD_INPUTS}) >= 12


def test_rejection_keeps_64_kib_of_the_input_and_its_full_size() -> None:
    raw = with_field("jsonPayload.blob", "x" * (1 << 20))
    result = parse_entry(raw)
    assert isinstance(result, Rejection)
    assert result.raw == raw[:MAX_STORED_RAW]
    assert result.raw_size == len(raw)
    assert "over the limit of 262144 bytes" in result.detail


def test_details_say_where_the_problem_is() -> None:
    cases = {
        with_field("httpRequest.status", "abc"): "httpRequest.status",
        with_field("labels", {"attempt": 3}): "labels",
        with_field("timestamp", "yesterday"): "timestamp",
        with_field("severity", ["ERROR"]): "severity",
        GOOD.replace(b"timed out", b"timed\x00out"): "byte",
    }
    for raw, where in cases.items():
        result = parse_entry(raw)
        assert isinstance(result, Rejection)
        assert where in result.detail, result.detail


def test_depth_at_the_limit_is_accepted() -> None:
    assert not isinstance(parse_entry(nested(63)), Rejection)


def test_wide_but_shallow_payload_is_accepted() -> None:
    entry = gke_container_entry()
    del entry["textPayload"]
    entry["jsonPayload"] = {"items": [{"id": i, "tags": [i]} for i in range(500)]}
    assert not isinstance(parse_entry(json.dumps(entry)), Rejection)
