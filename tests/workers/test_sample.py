"""The bundled demo sample: present, reproducible, and as its truth.json describes it."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import zlib
from collections import Counter
from datetime import datetime
from typing import Any

import msgspec
import pytest

from workers import sample
from workers.sample.build import build_sample
from workers.sample.loghub import default_loghub_dir

PAYLOAD_TYPES = {"textPayload": str, "jsonPayload": dict, "protoPayload": dict}
REQUIRED_KINDS = {"error_burst", "new_failure_message", "crash_loop", "auth_failure_burst"}
Entry = dict[str, Any]


def to_ns(stamp: str) -> int:
    """RFC 3339 (UTC, 0-9 fractional digits) to nanoseconds, without losing any."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return seconds * 10**9 + int(fraction.ljust(9, "0"))


def parse(line: bytes) -> Entry | None:
    """The entry, or None when the line is malformed: not a JSON object, or no payload."""
    try:
        value = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    if not any(isinstance(value.get(k), kind) for k, kind in PAYLOAD_TYPES.items()):
        return None
    return value


def service_of(entry: Entry) -> str:
    """The sample names each service by its resource's usual label."""
    labels = entry["resource"]["labels"]
    for key in ("container_name", "service_name", "cluster_name"):
        if labels.get(key):
            return str(labels[key])
    return str(entry.get("labels", {}).get("compute.googleapis.com/resource_name", ""))


@pytest.fixture(scope="module")
def raw_lines() -> list[bytes]:
    return gzip.decompress(sample.sample_path().read_bytes()).split(b"\n")[:-1]


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return json.loads(sample.truth_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def entries(raw_lines: list[bytes]) -> list[Entry]:
    """The valid entries in file order, first deliveries only."""
    seen: set[str] = set()
    firsts = []
    for entry in filter(None, map(parse, raw_lines)):
        if entry["insertId"] not in seen:
            seen.add(entry["insertId"])
            firsts.append(entry)
    return firsts


def test_bundled_sample_matches_a_fresh_build() -> None:
    loghub = default_loghub_dir()
    if not loghub.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"Loghub samples missing at {loghub}: CI must check the bundled sample")
        pytest.skip(f"Loghub samples not found at {loghub}: cannot rebuild the sample")
    fresh = build_sample(loghub)
    bundled = sample.sample_path().read_bytes()
    assert gzip.decompress(bundled) == fresh.jsonl, "run `python -m workers.sample.build`"
    assert sample.truth_path().read_bytes() == fresh.truth_json()
    assert bundled == fresh.gzipped(), f"same content, other gzip bytes (zlib {zlib.ZLIB_VERSION})"


def test_the_sample_stays_small(truth: dict[str, Any]) -> None:
    assert sample.sample_path().stat().st_size < 2_000_000
    assert 15_000 <= truth["entries"] <= 30_000


def test_malformed_and_duplicate_counts_match_truth(
    raw_lines: list[bytes], truth: dict[str, Any]
) -> None:
    parsed = [parse(line) for line in raw_lines]
    valid = [(line, entry) for line, entry in zip(raw_lines, parsed, strict=True) if entry]
    first: dict[str, bytes] = {}
    repeats = 0
    for line, entry in valid:
        if entry["insertId"] in first:
            repeats += 1
            assert line == first[entry["insertId"]], "a redelivery is an exact copy"
        first.setdefault(entry["insertId"], line)
    assert len(raw_lines) == truth["entries"]
    assert parsed.count(None) == truth["malformed"] == sum(truth["malformed_kinds"].values())
    assert repeats == truth["duplicates"]
    assert 0.002 <= truth["malformed"] / truth["entries"] <= 0.004
    assert 0.002 <= truth["duplicates"] / truth["entries"] <= 0.004


def test_timestamps_are_sorted_and_inside_the_span(
    entries: list[Entry], truth: dict[str, Any]
) -> None:
    times = [to_ns(entry["timestamp"]) for entry in entries]
    assert times == sorted(times)
    assert to_ns(truth["start"]) <= times[0] and times[-1] <= to_ns(truth["end"])
    assert all(to_ns(e["receiveTimestamp"]) >= to_ns(e["timestamp"]) for e in entries)


def test_every_incident_window_holds_lines_of_its_service(entries: list[Entry]) -> None:
    incidents = sample.load_truth()
    for incident in incidents:
        start, end = to_ns(incident.to_json()["start"]), to_ns(incident.to_json()["end"])
        inside = [
            e
            for e in entries
            if service_of(e) == incident.service
            and start <= to_ns(e["timestamp"]) <= end
            and e["resource"]["type"] == incident.resource_type
        ]
        assert len(inside) >= 10, incident.id


def test_truth_has_the_four_kinds_in_separate_services_well_apart() -> None:
    incidents = sample.load_truth()
    assert {i.kind for i in incidents} >= REQUIRED_KINDS
    assert len({i.service for i in incidents}) == len(incidents)
    for before, after in itertools.pairwise(incidents):
        assert (after.start - before.end).total_seconds() >= 15 * 60


def test_the_deploy_precedes_an_incident_and_changes_the_revision(
    entries: list[Entry], truth: dict[str, Any]
) -> None:
    (deploy,) = truth["deploys"]
    audits = [e for e in entries if e.get("protoPayload", {}).get("methodName") == deploy["method"]]
    assert [to_ns(e["timestamp"]) for e in audits] == [to_ns(deploy["at"])]
    serving_from = to_ns(deploy["serving_from"])
    revisions = Counter(
        (to_ns(e["timestamp"]) >= serving_from, e["resource"]["labels"]["revision_name"])
        for e in entries
        if service_of(e) == deploy["service"] and "jsonPayload" in e
    )
    assert set(revisions) == {
        (False, deploy["previous_revision_name"]),
        (True, deploy["revision_name"]),
    }
    followed = [i for i in sample.load_truth() if i.service == deploy["service"]]
    assert followed and all(to_ns(deploy["at"]) < to_ns(i.to_json()["start"]) for i in followed)


def _split_by_window(entries: list[Entry], kind: str) -> tuple[list[Entry], list[Entry]]:
    (incident,) = [i for i in sample.load_truth() if i.kind == kind]
    start, end = to_ns(incident.to_json()["start"]), to_ns(incident.to_json()["end"])
    own = [e for e in entries if service_of(e) == incident.service]
    inside = [e for e in own if start <= to_ns(e["timestamp"]) <= end]
    return inside, [e for e in own if not start <= to_ns(e["timestamp"]) <= end]


def _per_minute(group: list[Entry]) -> float:
    minutes = {e["timestamp"][:16] for e in group}
    return len(group) / len(minutes)


def _is_error(entry: Entry) -> bool:
    return entry["severity"] in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")


def test_the_auth_failures_come_at_many_times_the_usual_rate(entries: list[Entry]) -> None:
    inside, outside = _split_by_window(entries, "auth_failure_burst")
    failures = [e for e in inside if "Failed password" in e["textPayload"]]
    assert len(failures) >= 50
    assert _per_minute(inside) >= 10 * _per_minute(outside)


def test_the_error_burst_stands_out_of_a_service_that_rarely_errs(entries: list[Entry]) -> None:
    inside, outside = _split_by_window(entries, "error_burst")
    assert sum(map(_is_error, inside)) / len(inside) >= 0.1
    assert sum(map(_is_error, outside)) / len(outside) < 0.001


def test_the_new_failure_message_is_nowhere_outside_its_window(entries: list[Entry]) -> None:
    inside, outside = _split_by_window(entries, "new_failure_message")
    assert sum(map(_is_error, inside)) >= 5
    assert not any(map(_is_error, outside))


def test_the_crash_loop_restarts_again_and_again(entries: list[Entry]) -> None:
    inside, outside = _split_by_window(entries, "crash_loop")
    messages = [e["jsonPayload"]["message"] for e in inside]
    starts = sum(m.startswith("Registered signal handlers") for m in messages)
    deaths = sum(m.startswith("Uncaught exception in thread") for m in messages)
    assert starts >= 15 and deaths >= 15
    assert not any(map(_is_error, outside))
