"""Entries share one decoded copy of each resource and set of labels: what they hold, and
what is rejected with which words, is what decoding each entry whole gives."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pipeline.entry import LogEntry
from pipeline.parsing import Rejection, parse_entry, parse_text_line
from pipeline.parsing import wire as wire_module
from pipeline.parsing.rejection import InvalidInput
from pipeline.parsing.wire import NO_LABELS, SHARED_MAX, decode_entry
from tests.fuzzing import FUZZ, JSON_VALUES, mutated_bytes, mutated_entry, real_objects

_STRINGS = st.text(max_size=12) | st.sampled_from(["project_id", "service_name", "\x00", "é"])
_LABEL_VALUES = st.one_of(
    JSON_VALUES,
    st.dictionaries(_STRINGS, _STRINGS, max_size=4),
    st.dictionaries(_STRINGS, JSON_VALUES, max_size=3),
)


@st.composite
def odd_labels(draw: st.DrawFn) -> bytes:
    """A real entry whose resource, resource labels or labels hold any JSON (or are
    gone), written out with a duplicated key, an escaped NUL or a byte edit at times."""
    entry: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(real_objects())))
    for field in ("resource", "labels", "resource.labels", "resource.type"):
        how = draw(st.integers(0, 2))  # 0: as it is, 1: without it, 2: any value
        target, name = entry, field
        if field.startswith("resource."):
            if not isinstance(entry.get("resource"), dict):
                continue
            target, name = entry["resource"], field.removeprefix("resource.")
        if how == 1:
            target.pop(name, None)
        elif how == 2:
            target[name] = draw(_LABEL_VALUES)
    raw = json.dumps(entry).encode()
    how = draw(st.integers(0, 3))
    if how == 1:  # a duplicated key: the later value is the one kept
        raw = raw.replace(b'"labels": {', b'"labels": {"dup": "a", "dup": 1, ', 1)
    elif how == 2:
        raw = raw.replace(b'"labels": {', b'"labels": {"nul": "a\\u0000b", ', 1)
    elif how == 3:
        raw = draw(mutated_bytes(raw))
    return raw


def _whole(raw: bytes) -> tuple[dict[str, str], dict[str, str], str] | InvalidInput:
    """The labels and resource type decoding the entry whole gives, or its failure."""
    try:
        wire = decode_entry(raw)
    except InvalidInput as error:
        return error
    resource = wire.resource
    return (resource.labels if resource else {}), wire.labels or {}, (
        (resource.type if resource else "") or "global")


@FUZZ
@given(st.one_of(odd_labels(), mutated_entry()))
def test_shared_labels_are_what_decoding_the_entry_whole_gives(raw: bytes) -> None:
    if not raw.strip() or not raw.isascii() or b"\\u0000" in raw:
        return  # (rejected before decoding, or decoded from an edited body)
    expected = _whole(raw)
    for _ in range(2):  # the first decodes the labels, the second finds them shared
        result = parse_entry(raw, receive_ns=7)
        if isinstance(expected, InvalidInput):
            assert isinstance(result, Rejection)
            assert (result.reason, result.detail) == (expected.reason, expected.detail)
        elif isinstance(result, LogEntry):
            assert (result.resource_labels, result.labels, result.resource_type) == expected


def _entry(text: str, resource: dict[str, Any] | None, labels: Any = None) -> bytes:
    entry: dict[str, Any] = {"textPayload": text, "timestamp": "2024-05-01T12:00:00Z"}
    if resource is not None:
        entry["resource"] = resource
    if labels is not None:
        entry["labels"] = labels
    return json.dumps(entry).encode()


def test_the_entries_of_a_stream_share_their_labels() -> None:
    resource = {"type": "k8s_container", "labels": {"project_id": "p", "container_name": "c"}}
    first, second = (parse_entry(_entry(text, resource, {"pod": "a"})) for text in "ab")
    assert isinstance(first, LogEntry) and isinstance(second, LogEntry)
    assert first.resource_labels is second.resource_labels
    assert first.labels is second.labels == {"pod": "a"}
    assert first.service == "c" and first.project == "p"


def test_entries_without_labels_share_one_empty_dict() -> None:
    raws = [_entry("a", None), _entry("b", {"type": "gce_instance"}, {}),
            _entry("c", {"type": "x", "labels": {}}, None), b'{"textPayload": "d", '
            b'"timestamp": "2024-05-01T12:00:00Z", "resource": null, "labels": null}']
    for raw in raws:
        entry = parse_entry(raw)
        assert isinstance(entry, LogEntry)
        assert entry.resource_labels is NO_LABELS and entry.labels is NO_LABELS
    line = parse_text_line(b"ERROR failed", source="f:1", project="p", service="s", now_ns=0)
    assert isinstance(line, LogEntry)
    assert line.resource_labels is NO_LABELS and line.labels is NO_LABELS
    assert NO_LABELS == {}


def test_shared_labels_encode_as_each_entry_s_own_would() -> None:
    resource = {"type": "k8s_container", "labels": {"project_id": "p", "container_name": "c"}}
    entries = [parse_entry(_entry(text, resource, {"pod": text})) for text in "aab"]
    assert all(isinstance(entry, LogEntry) for entry in entries)
    encoded = msgspec.msgpack.encode(entries)
    assert msgspec.msgpack.decode(encoded, type=list[LogEntry]) == entries
    owned = [msgspec.structs.replace(e, resource_labels=dict(e.resource_labels),
                                     labels=dict(e.labels)) for e in entries]
    assert msgspec.msgpack.encode(owned) == encoded
    assert msgspec.json.encode(owned) == msgspec.json.encode(entries)


def test_the_table_of_shared_labels_stays_bounded() -> None:
    for i in range(SHARED_MAX + 10):
        entry = parse_entry(_entry("a", {"type": "t", "labels": {"n": str(i)}}, {"n": str(i)}))
        assert isinstance(entry, LogEntry) and entry.resource_labels == {"n": str(i)}
    assert 0 < len(wire_module._resources) <= SHARED_MAX
    assert 0 < len(wire_module._labels) <= SHARED_MAX
    long = {"n": "x" * wire_module.SHARED_MAX_BYTES}
    first, second = (parse_entry(_entry(text, {"labels": long}, long)) for text in "ab")
    assert isinstance(first, LogEntry) and isinstance(second, LogEntry)
    assert first.resource_labels == second.resource_labels == long
    assert first.resource_labels is not second.resource_labels  # not kept: too long
    assert first.labels is not second.labels
