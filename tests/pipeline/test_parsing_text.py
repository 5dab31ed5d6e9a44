"""Plain text lines and files: severity and time guessed from the text; iter_lines."""

from __future__ import annotations

import calendar
import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.entry import LogEntry, Severity
from pipeline.parsing import (
    Rejection,
    RejectReason,
    guess_severity,
    iter_lines,
    leading_timestamp_ns,
    parse_text_line,
)
from tests.pipeline.test_parsing import encode, gke_container_entry

NS = 1_000_000_000
NOW = calendar.timegm((2024, 5, 1, 12, 0, 0)) * NS
LOGHUB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "loghub"


def line_entry(text: bytes | str, source: str = "app.log:1") -> LogEntry:
    result = parse_text_line(text, source=source, project="acme", service="api", now_ns=NOW)
    assert isinstance(result, LogEntry), result
    return result


def utc_ns(text: str) -> int:
    return calendar.timegm(datetime.fromisoformat(text).timetuple()) * NS


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("panic: runtime error: index out of range", Severity.CRITICAL),
        ("kernel: Fatal exception in interrupt", Severity.CRITICAL),
        ("db is in a critical state", Severity.CRITICAL),
        ("could not connect: error 111", Severity.ERROR),
        ("[ERR] upstream closed", Severity.ERROR),
        ("java.lang.NullPointerException: at Foo.bar", Severity.ERROR),
        ("Traceback (most recent call last):", Severity.ERROR),
        ("login FAILED for root", Severity.ERROR),
        ("disk usage at 91%, warn threshold 90%", Severity.WARNING),
        ("deprecated flag (warning)", Severity.WARNING),
        ("debug: cache miss for key 7", Severity.DEBUG),
        ("info: started in 2.1s", Severity.INFO),
        ("GET /healthz 200", Severity.DEFAULT),
        ("terror errors information debugger warned", Severity.DEFAULT),
        ("if err != nil { return err }", Severity.DEFAULT),
        ("2024-05-01 12:00:00 WARN retrying after IOException", Severity.WARNING),
        ("2024-05-01 12:00:00 INFO request failed over to replica", Severity.INFO),
        ("2016-09-28 04:30:31, Info CSI Error 0x80070002 ignored", Severity.INFO),
    ],
)
def test_severity_guess(text: str, severity: Severity) -> None:
    assert guess_severity(text) is severity
    assert line_entry(text).severity is severity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T11:59:58.250Z GET /", utc_ns("2024-05-01T11:59:58") + 250_000_000),
        ("2024-05-01T13:59:58+02:00 x", utc_ns("2024-05-01T11:59:58")),
        ("2015-10-18 18:01:47,978 INFO [main]", utc_ns("2015-10-18T18:01:47") + 978_000_000),
        ("[2024-05-01 11:00:00.123456] boot", utc_ns("2024-05-01T11:00:00") + 123_456_000),
        ("Apr 30 23:15:01 combo sshd[19939]: x", utc_ns("2024-04-30T23:15:01")),
        ("Jun  3 04:00:00 host cron[1]: job", utc_ns("2023-06-03T04:00:00")),
        ("17/06/09 20:10:40 INFO spark", utc_ns("2017-06-09T20:10:40")),
        ("no time here", NOW),
        ("2024-13-45 10:00:00 impossible", NOW),
        ("Feb 30 10:00:00 impossible", NOW),
    ],
)
def test_leading_timestamp(text: str, expected: int) -> None:
    assert line_entry(text).timestamp_ns == expected


def test_syslog_time_in_a_leap_year_only() -> None:
    assert leading_timestamp_ns("Feb 29 10:00:00 x", NOW) == utc_ns("2024-02-29T10:00:00")


def test_text_entry_fields() -> None:
    entry = line_entry(b"2024-05-01 11:00:00 ERROR boom\r\n", source="app.log:7")
    assert entry.message == "2024-05-01 11:00:00 ERROR boom"
    assert (entry.project, entry.service, entry.size) == ("acme", "api", 30)
    assert entry.receive_timestamp_ns == NOW


def test_insert_id_depends_on_source_and_text() -> None:
    ids = {
        line_entry("same", "a.log:1").insert_id,
        line_entry("same", "a.log:2").insert_id,
        line_entry("other", "a.log:1").insert_id,
        line_entry("same", "b.log:1").insert_id,
    }
    assert len(ids) == 4
    assert line_entry("same", "a.log:1").insert_id == line_entry(b"same\n", "a.log:1").insert_id


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", RejectReason.EMPTY),
        (b"   \n", RejectReason.EMPTY),
        (b"caf\xe9 latin-1", RejectReason.INVALID_UTF8),
        (b"ok\x00\x00\x00\x00", RejectReason.BINARY),
        (b"\x1b[31mred\x1b[0m" + b"\x01\x02\x03\x04\x05", RejectReason.BINARY),
        (b"x" * 300_000, RejectReason.OVERSIZED),
    ],
)
def test_bad_text_lines(line: bytes, reason: RejectReason) -> None:
    result = parse_text_line(line, source="a.log:1", project="p", service="s", now_ns=NOW)
    assert isinstance(result, Rejection) and result.reason is reason, result


def test_colour_codes_are_text() -> None:
    assert line_entry(b"\x1b[31mERROR\x1b[0m disk full").severity is Severity.ERROR


def read(data: bytes, **kwargs: object) -> list[LogEntry | Rejection]:
    stream = io.BytesIO(data)
    options = {"source_name": "app.log", "project": "acme", "service": "api", "now_ns": NOW}
    return list(iter_lines(stream, **{**options, **kwargs}))  # type: ignore[arg-type]


def test_iter_lines_mixes_json_and_text_and_skips_blank_lines() -> None:
    gke = gke_container_entry()
    no_project = {"textPayload": "hello", "timestamp": "2024-05-01T12:00:00Z"}
    data = b"\xef\xbb\xbfplain ERROR line\n\n" + encode(gke) + b"\r\n   \n"
    data += b"  " + encode(no_project) + b"\n{broken\nlast line without newline"
    items = read(data)
    assert [type(i).__name__ for i in items] == ["LogEntry"] * 3 + ["Rejection", "LogEntry"]
    text, json_entry, defaulted, broken, last = items
    assert isinstance(text, LogEntry) and text.message == "plain ERROR line"
    assert isinstance(json_entry, LogEntry) and json_entry.project == "acme-prod"
    assert json_entry.size == len(encode(gke))
    assert isinstance(defaulted, LogEntry) and defaulted.project == "acme"
    assert isinstance(broken, Rejection) and broken.reason is RejectReason.INVALID_JSON
    assert broken.source == "app.log:6"
    assert isinstance(last, LogEntry) and last.message == "last line without newline"
    assert [i.source for i in items if isinstance(i, Rejection)] == ["app.log:6"]


def test_iter_lines_rejects_a_huge_line_without_holding_it() -> None:
    data = b"before\n" + b"y" * 5_000_000 + b"\nafter\n"
    before, huge, after = read(data, max_bytes=1000)
    assert isinstance(huge, Rejection) and huge.reason is RejectReason.OVERSIZED
    assert huge.raw_size == 5_000_001 and len(huge.raw) <= 1002
    assert huge.source == "app.log:2"
    assert isinstance(after, LogEntry) and after.message == "after"
    assert isinstance(before, LogEntry)


def test_iter_lines_limit_is_on_the_content_not_the_newline() -> None:
    fits, over = read(b"a" * 100 + b"\r\n" + b"b" * 101 + b"\n", max_bytes=100)
    assert isinstance(fits, LogEntry)
    assert isinstance(over, Rejection) and over.reason is RejectReason.OVERSIZED


def test_severity_guess_agrees_with_loghub_labels() -> None:
    """Labelled real logs: the guess matches the level column of every line."""
    if not LOGHUB.is_dir():
        pytest.skip(f"loghub sample data not found at {LOGHUB}")
    level_names = {
        "INFO": "INFO",
        "Info": "INFO",
        "WARN": "WARNING",
        "WARNING": "WARNING",
        "ERROR": "ERROR",
        "error": "ERROR",
        "FATAL": "CRITICAL",
        "notice": "DEFAULT",
    }
    for name in ("Apache", "HDFS", "Hadoop", "OpenStack", "Spark", "Windows", "Zookeeper"):
        log = LOGHUB / name / f"{name}_2k.log"
        with (log.parent / f"{log.name}_structured.csv").open(encoding="utf-8") as labels:
            wanted = [level_names[row["Level"]] for row in csv.DictReader(labels)]
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        guessed = [guess_severity(line).name for line in lines]
        assert guessed == wanted, name


@pytest.mark.parametrize(
    ("line", "now", "expected"),
    [
        ("Dec 31 23:59:59 x", "2021-01-01T00:30:00", "2020-12-31T23:59:59"),
        ("Jan  1 00:00:10 x", "2021-01-01T00:30:00", "2021-01-01T00:00:10"),
        ("Jan  2 00:00:10 x", "2021-01-01T00:30:00", "2021-01-02T00:00:10"),
        ("Jan  3 00:00:10 x", "2021-01-01T00:30:00", "2020-01-03T00:00:10"),
        ("Feb 29 12:00:00 x", "2000-03-01T00:00:00", "2000-02-29T12:00:00"),
        ("Feb 29 12:00:00 x", "2101-03-01T00:00:00", None),
        ("2024-05-01 12:00:00 +0200 x", "2024-05-01T12:00:00", "2024-05-01T10:00:00"),
        ("2024-05-01 12:00:00 -07:00 x", "2024-05-01T12:00:00", "2024-05-01T19:00:00"),
        ("1969-12-31 23:59:59 x", "2024-05-01T12:00:00", None),
    ],
)
def test_leading_timestamp_years_and_zones(line: str, now: str, expected: str | None) -> None:
    found = leading_timestamp_ns(line, utc_ns(now))
    assert found == (None if expected is None else utc_ns(expected))
