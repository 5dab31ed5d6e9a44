"""The cache of seconds in `rfc3339_ns` gives what parsing the whole text gives, for every
text: the times of real entries, and malformed or out-of-range texts that share a cached
second with them (the same value, or the same TimestampError with the same words)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from pipeline.entry import LogEntry
from pipeline.parsing import Rejection, RejectReason, logentry, parse_entry, timestamps
from pipeline.parsing.timestamps import TimestampError, rfc3339_ns
from tests.benchmarks.embedded import SYSTEMS, dense_lines
from tests.pipeline.loghub import LOGHUB_DIR, structured_files

TAILS = [
    "Z", "z", ".5Z", ".000000001Z", ".123456789z", ".1234567890Z", ".1234567891234Z", "", ".",
    "Z ", " Z", ".Z", "ZZ", ".12a3Z", ".-1Z", ".1.2Z", "Z\n", ".5\nZ", ".\uff11\uff12Z", ".\u00b2Z",
    ".\u0663Z", "+00:00", "-05:30", ".5+01:00", "+24:00", "+01:60", "+0100", ".5+01:00Z",
    # nine places, as Cloud Logging writes: what only looks like nine digits
    ".999999999Z", ".000000000Z", ".+12345678Z", ". 12345678Z", ".1234_5678Z", ".12345678 Z",
    ".-12345678Z", ".12345678\u00b2Z", ".\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669Z",
    ".123456789\n", ".1234567890", "+123456789Z",
]
SECONDS = [
    "2024-05-01T12:00:00", "2024-05-01t12:00:00", "2024-05-01 12:00:00", "2016-12-31T23:59:60",
    "2024-02-29T00:00:00", "1970-01-01T00:00:00", "2099-12-31T23:59:59", "2100-01-01T00:00:00",
    "1969-12-31T23:59:59", "2023-02-29T00:00:00", "2024-13-01T00:00:00", "2024-05-01T24:00:00",
    "2024-05-01T12:60:00", "2024-05-01T12:00:61", "2024-05-01T12:00:0\u0663", "2024-05-01",
]


def outcome(parse: Callable[[str], int], text: str) -> tuple[str, int | str]:
    try:
        return "ns", parse(text)
    except TimestampError as error:
        return "error", str(error)


@pytest.fixture(autouse=True)
def _cold_caches() -> Iterator[None]:
    timestamps._SECOND_CACHE.clear()
    yield
    timestamps._SECOND_CACHE.clear()


def test_a_cached_second_gives_what_parsing_the_whole_text_gives() -> None:
    texts = [second + tail for second in SECONDS for tail in TAILS]
    for text in texts:  # the first pass fills the cache with every valid UTC second
        assert outcome(rfc3339_ns, text) == outcome(timestamps._parsed_ns, text), repr(text)
    assert len(timestamps._SECOND_CACHE) == 7  # the valid seconds (three are one second)
    for text in texts:  # the second pass reads them from it
        assert outcome(rfc3339_ns, text) == outcome(timestamps._parsed_ns, text), repr(text)


def test_only_utc_times_in_range_are_cached() -> None:
    for text in ["2024-05-01T14:00:00+02:00", "2100-01-01T00:00:00Z", "2024-05-01T12:00:61Z"]:
        outcome(rfc3339_ns, text)
    assert timestamps._SECOND_CACHE == {}
    assert rfc3339_ns("2024-05-01T14:00:00.25+02:00") == rfc3339_ns("2024-05-01T12:00:00.25Z")
    assert list(timestamps._SECOND_CACHE) == ["2024-05-01T12:00:00"]


def test_the_cache_stays_bounded() -> None:
    for second in range(timestamps._SECOND_CACHE_SIZE + 10):
        rfc3339_ns(f"2024-05-{1 + second // 86_400:02}T{second // 3600 % 24:02}:"
                   f"{second // 60 % 60:02}:{second % 60:02}.5Z")
    assert 0 < len(timestamps._SECOND_CACHE) <= timestamps._SECOND_CACHE_SIZE


def test_entries_of_real_lines_parse_as_without_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    structured_files()  # the Loghub samples are there (fails under CI, skips elsewhere)
    lines = list(dense_lines(8_000, seed=11, loghub=LOGHUB_DIR))
    bad, tails = [], TAILS * 6  # the same lines, their time changed but its second kept
    for line, tail in zip(lines[::50], tails, strict=False):
        entry = json.loads(line)
        entry["timestamp"] = entry["timestamp"][:19] + tail
        bad.append(json.dumps(entry))
    inputs = [line.encode() for line in lines + bad]

    def parse_all() -> list[object]:
        return [parse_entry(raw, source=f"test:{i}", receive_ns=7) for i, raw in enumerate(inputs)]

    cached = parse_all()
    assert len(timestamps._SECOND_CACHE) > 0
    monkeypatch.setattr(logentry, "rfc3339_ns", timestamps._parsed_ns)
    assert cached == parse_all()
    good_tails = sum(outcome(rfc3339_ns, SECONDS[0] + tail)[0] == "ns" for tail in tails[:160])
    assert sum(isinstance(item, LogEntry) for item in cached) == len(lines) + good_tails
    assert all(isinstance(item, Rejection) and item.reason is RejectReason.BAD_TIMESTAMP
               for item in cached[len(lines):] if not isinstance(item, LogEntry))
    assert {service.lower() for service in SYSTEMS} == {
        item.service for item in cached if isinstance(item, LogEntry)
    }
