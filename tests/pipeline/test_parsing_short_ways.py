"""The short ways of parsing a file's JSON lines give what the general ones give: a line
parsed with its end is the entry, or the rejection in the very words, of its bytes alone;
what an entry's resource, labels and log name make of it, found again for the entries
after it, is what working it out anew gives; and that table stays bounded."""

from __future__ import annotations

import io
import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pipeline.entry import LogEntry
from pipeline.parsing import DEFAULT_MAX_ENTRY_BYTES, Rejection, iter_numbered_lines, parse_entry
from pipeline.parsing import logentry as logentry_module
from pipeline.parsing.fields import labelled_service, log_name_parts
from pipeline.parsing.logentry import parse_entry_or_reject
from pipeline.parsing.wire import SHARED_MAX, SHARED_MAX_BYTES
from tests.fuzzing import FUZZ, mutated_entry, real_entry
from tests.pipeline.test_parsing_fuzz import entry_shapes
from tests.pipeline.test_parsing_shared_labels import odd_labels


@st.composite
def json_lines(draw: st.DrawFn) -> tuple[bytes, int]:
    """One line starting with `{` and its end, and an entry size limit: the default, or
    one the line is just within or just over."""
    raw = draw(st.one_of(mutated_entry(), entry_shapes(), odd_labels(), real_entry()))
    raw = b"{" + raw.replace(b"\n", b" ")[1:]
    line = raw + draw(st.sampled_from([b"\n", b"\r\n"]))
    size = len(line) - (2 if line.endswith(b"\r\n") else 1)
    limit = draw(st.sampled_from([DEFAULT_MAX_ENTRY_BYTES, size, size - 1]))
    return line, limit


def _parsed_alone(line: bytes, max_bytes: int, project: str) -> LogEntry | Rejection:
    """What a line parsed to before the short way: its bytes without the end, alone."""
    data = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    item = parse_entry_or_reject(data, "f:1", max_bytes, 7, 7)
    if project and isinstance(item, LogEntry) and not item.project:
        item = msgspec.structs.replace(item, project=project)
    return item


@FUZZ
@given(json_lines(), st.sampled_from(["", "p"]))
def test_a_json_line_is_what_its_bytes_alone_give(case: tuple[bytes, int], project: str) -> None:
    line, max_bytes = case
    if len(line) > max_bytes + 2:
        return  # (read in part: the line is rejected as oversize before any parse)
    expected = _parsed_alone(line, max_bytes, project)
    for _ in range(2):  # the second finds the stream's resource and labels known
        items = list(iter_numbered_lines(io.BytesIO(line), source_name="f", project=project,
                                         service="s", now_ns=7, max_bytes=max_bytes))
        assert items == [(1, expected)]


def test_json_lines_reach_both_ends_of_the_short_way() -> None:
    from hypothesis import find

    find(json_lines(), lambda case: isinstance(_parsed_alone(*case, ""), Rejection))
    find(json_lines(), lambda case: isinstance(_parsed_alone(*case, ""), LogEntry)
         and case[0].endswith(b"\r\n"))
    find(json_lines(), lambda case: len(case[0]) == case[1] + 2 and case[0][-2:-1] != b"\r")


def _entry(resource: Any, labels: Any, log_name: str) -> bytes:
    entry = {"textPayload": "a", "timestamp": "2024-05-01T12:00:00Z", "logName": log_name,
             "resource": resource, "labels": labels}
    return json.dumps(entry).encode()


@FUZZ
@given(st.one_of(mutated_entry(), entry_shapes(), odd_labels()))
def test_a_known_stream_names_what_working_it_out_anew_names(raw: bytes) -> None:
    logentry_module._streams.clear()
    first = parse_entry(raw, receive_ns=7)
    second = parse_entry(raw, receive_ns=7)
    assert first == second
    if isinstance(first, LogEntry):
        log_project, log_service = log_name_parts(first.log_name)
        labelled = labelled_service(first.resource_labels, first.labels)
        assert first.project == (first.resource_labels.get("project_id", "") or log_project)
        assert first.service == (labelled or log_service or first.resource_type)


def test_streams_that_differ_in_one_part_are_told_apart() -> None:
    resource = {"type": "k8s_container", "labels": {"project_id": "p"}}
    entries = [parse_entry(_entry(resource, labels, name)) for labels, name in [
        ({"app": "a"}, "projects/q/logs/x"), ({"app": "b"}, "projects/q/logs/x"),
        (None, "projects/q/logs/x"), (None, "projects/q/logs/y")]]
    assert [(e.project, e.service) for e in entries if isinstance(e, LogEntry)] == [
        ("p", "a"), ("p", "b"), ("p", "x"), ("p", "y")]
    other = parse_entry(_entry({"type": "gce_instance"}, None, "projects/q/logs/y"))
    assert isinstance(other, LogEntry)
    assert (other.project, other.service, other.resource_type) == ("q", "y", "gce_instance")


def test_the_table_of_streams_stays_bounded() -> None:
    resource = {"type": "t", "labels": {"project_id": "p"}}
    for i in range(SHARED_MAX + 10):
        entry = parse_entry(_entry(resource, None, f"projects/p/logs/l{i}"))
        assert isinstance(entry, LogEntry) and entry.service == f"l{i}"
    assert 0 < len(logentry_module._streams) <= SHARED_MAX
    long_name = "projects/p/logs/" + "x" * SHARED_MAX_BYTES
    entry = parse_entry(_entry(resource, None, long_name))
    assert isinstance(entry, LogEntry) and entry.service == "x" * SHARED_MAX_BYTES
    assert not any(key[2] == long_name for key in logentry_module._streams)


def test_a_json_line_naming_no_project_takes_the_file_s() -> None:
    unnamed = _entry({"type": "gce_instance"}, None, "organizations/1/logs/syslog")
    named = _entry({"type": "gce_instance"}, None, "projects/q/logs/syslog")
    stream = io.BytesIO(unnamed + b"\n" + named + b"\r\n")
    items = [item for _, item in iter_numbered_lines(
        stream, source_name="f", project="p", service="s", now_ns=7)]
    assert [(e.project, e.service) for e in items if isinstance(e, LogEntry)] == [
        ("p", "syslog"), ("q", "syslog")]
