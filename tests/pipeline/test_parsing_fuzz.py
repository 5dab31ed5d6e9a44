"""Hypothesis properties: every parse function turns any input into a LogEntry or a
Rejection with a reason code; none raises, none reports a parser bug.

Examples start from real entries (the bundled sample and the development sets) and are
edited as bytes and as structure; envelopes and text lines get the same treatment.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipeline.entry import LogEntry, Severity
from pipeline.parsing import (
    Rejection,
    RejectReason,
    iter_lines,
    parse_entry,
    parse_pubsub_message,
    parse_push_body,
    parse_text_line,
)
from tests.fuzzing import (
    FEW,
    FUZZ,
    JSON_VALUES,
    mutated_bytes,
    mutated_entry,
    real_entries,
    real_entry,
    real_objects,
)

TEXT_LINE = b"2024-05-01 12:00:00,123 ERROR [main] c.a.Service: failed to connect to 10.0.0.1"


def check(result: object) -> None:
    assert isinstance(result, LogEntry | Rejection)
    if isinstance(result, Rejection):
        assert result.reason is not RejectReason.PARSER_BUG, result.detail
        assert isinstance(result.reason, RejectReason) and result.detail
        assert len(result.raw) <= 64 * 1024 and result.raw_size >= len(result.raw)
        return
    assert isinstance(result.timestamp_ns, int) and isinstance(result.severity, Severity)
    assert isinstance(result.message, str) and result.insert_id and result.service


def test_the_real_seeds_are_entries_but_for_the_faults_planted_in_them() -> None:
    results = [parse_entry(raw) for raw in real_entries()]
    for result in results:
        check(result)
    entries = sum(isinstance(result, LogEntry) for result in results)
    assert len(results) >= 200 and entries >= 0.95 * len(results)


@FUZZ
@given(mutated_entry())
def test_parse_entry_takes_any_edit_of_a_real_entry(raw: bytes) -> None:
    check(parse_entry(raw, receive_ns=1))


@FEW
@given(mutated_entry())
def test_parse_entry_takes_text_as_well_as_bytes(raw: bytes) -> None:
    check(parse_entry(raw.decode("utf-8", "surrogateescape")))


@FUZZ
@given(JSON_VALUES)
def test_parse_entry_takes_any_json_value(value: Any) -> None:
    check(parse_entry(json.dumps(value)))


@FEW
@given(st.binary(max_size=300))
def test_parse_entry_takes_any_bytes(raw: bytes) -> None:
    check(parse_entry(raw))


@st.composite
def push_bodies(draw: st.DrawFn) -> bytes:
    """A push request: well formed around an edited entry, or itself edited or odd."""
    data = base64.b64encode(draw(st.one_of(mutated_entry(), real_entry()))).decode()
    message: dict[str, Any] = {"data": data, "messageId": draw(st.text(max_size=8)),
                               "attributes": draw(st.dictionaries(st.text(max_size=8),
                                                                  st.text(max_size=30)))}
    envelope: dict[str, Any] = {"message": message, "subscription": "projects/p/subscriptions/s"}
    how = draw(st.integers(0, 3))
    if how == 1:
        target = draw(st.sampled_from([envelope, message]))
        target[draw(st.sampled_from(sorted({*target, "publishTime", "zz"})))] = draw(JSON_VALUES)
    body = json.dumps(envelope).encode()
    if how == 2:
        body = draw(mutated_bytes(body))
    if how == 3:
        body = draw(st.binary(max_size=200))
    return body


@FUZZ
@given(push_bodies())
def test_a_push_body_is_an_entry_or_a_rejection(body: bytes) -> None:
    message_id, result = parse_push_body(body)
    assert isinstance(message_id, str) and message_id
    check(result)


@FEW
@given(mutated_entry(), st.dictionaries(st.text(max_size=40), st.text(max_size=40)))
def test_a_pubsub_message_is_an_entry_or_a_rejection(raw: bytes,
                                                     attributes: dict[str, str]) -> None:
    check(parse_pubsub_message(raw, attributes, "m-1", None))


@FUZZ
@given(st.one_of(mutated_bytes(TEXT_LINE), st.binary(max_size=200)))
def test_a_text_line_is_an_entry_or_a_rejection(raw: bytes) -> None:
    check(parse_text_line(raw, source="f:1", project="p", service="s", now_ns=0))


@FEW
@given(st.lists(st.one_of(mutated_entry(), mutated_bytes(TEXT_LINE), real_entry()),
                max_size=20))
def test_a_file_of_mixed_lines_yields_one_result_a_line(lines: list[bytes]) -> None:
    stream = io.BytesIO(b"\n".join(lines))
    for item in iter_lines(stream, source_name="f", project="p", service="s", now_ns=0):
        check(item)



_SHAPE_FIELDS = {
    "textPayload": st.text(max_size=20),
    "jsonPayload": st.dictionaries(st.sampled_from(["message", "msg", "x"]), st.text(max_size=5)),
    "protoPayload": st.just({"@type": "type.googleapis.com/x.Y", "a": 1}),
    "timestamp": st.just("2024-05-01T12:00:00.5Z"),
    "receiveTimestamp": st.just("2024-05-01T12:00:01Z"),
    "httpRequest": st.just({"requestMethod": "GET", "status": 503}),
    "resource": st.just({"type": "k8s_container", "labels": {"container_name": "web"}}),
    "labels": st.just({"app": "shop"}),
    "logName": st.sampled_from(["projects/p/logs/stdout", "organizations/1/logs/a%2Fb", ""]),
}


@st.composite
def entry_shapes(draw: st.DrawFn) -> bytes:
    """A real entry with payload, time, resource and name fields taken away or put in."""
    entry = copy.deepcopy(draw(st.sampled_from(real_objects())))
    for field, values in _SHAPE_FIELDS.items():
        how = draw(st.integers(0, 2))  # 0: as it is, 1: without it, 2: with a value of ours
        if how == 1:
            entry.pop(field, None)
        elif how == 2:
            entry[field] = draw(values)
    return json.dumps(entry).encode()


@FUZZ
@given(st.one_of(mutated_entry(), entry_shapes()))
def test_the_usual_entry_s_short_ways_give_what_the_general_ones_give(raw: bytes) -> None:
    """A textPayload and a timestamp alone skip the helpers that sort out other entries:
    any entry parses to the message, payload, times, names and severity those helpers
    give."""
    from pipeline.parsing.fields import labelled_service, log_name_parts, severity_of
    from pipeline.parsing.logentry import _times
    from pipeline.parsing.payloads import message_and_payload
    from pipeline.parsing.wire import decode_entry

    entry = parse_entry(raw, receive_ns=7)
    if not isinstance(entry, LogEntry) or not raw.isascii() or b"\\u0000" in raw:
        return  # (a BOM, invalid UTF-8 or an escaped NUL: the wire decoded is another)
    wire = decode_entry(raw)
    assert (entry.message, entry.payload) == message_and_payload(wire, raw)
    assert (entry.timestamp_ns, entry.receive_timestamp_ns, entry.time_assumed) == _times(
        wire, 7, 7)
    log_project, log_service = log_name_parts(entry.log_name)
    labelled = labelled_service(entry.resource_labels, entry.labels)
    assert entry.project == (entry.resource_labels.get("project_id", "") or log_project)
    assert entry.service == (labelled or log_service or entry.resource_type)
    assert entry.severity is severity_of(wire.severity)


def test_entry_shapes_reach_every_way_through_the_parser() -> None:
    """The shapes above are what make the test before it bite: they hold a textPayload
    with another payload, and a timestamp with and without receiveTimestamp."""
    from hypothesis import find

    find(entry_shapes(), lambda raw: b"textPayload" in raw and b"jsonPayload" in raw)
    find(entry_shapes(), lambda raw: b'"timestamp"' in raw and b"receiveTimestamp" not in raw)
    find(entry_shapes(), lambda raw: b'"timestamp"' in raw and b"receiveTimestamp" in raw)
