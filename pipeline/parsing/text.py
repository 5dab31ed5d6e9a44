"""Plain text log lines: one entry per line, severity and time guessed from the text."""

from __future__ import annotations

import re

from pipeline.entry import LogEntry, Severity
from pipeline.parsing.fields import synthetic_insert_id
from pipeline.parsing.logentry import parser_bug
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    InvalidInput,
    Rejection,
    as_bytes,
    binary_error,
    check_size,
    check_utf8,
    looks_binary,
    stored_bytes,
)
from pipeline.parsing.timestamps import leading_timestamp_ns
from pipeline.parsing.wire import NO_LABELS

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DECLARED_WITHIN = 100  # a line's own level word sits near its start, after the time
_DECLARED = re.compile(
    r"\b(FATAL|PANIC|CRITICAL|ERROR|ERR|WARN|WARNING|INFO|DEBUG"
    r"|Fatal|Panic|Critical|Error|Warn|Warning|Info|Debug)\b"
)
_DECLARED_SEVERITY = {
    "FATAL": Severity.CRITICAL,
    "PANIC": Severity.CRITICAL,
    "CRITICAL": Severity.CRITICAL,
    "ERROR": Severity.ERROR,
    "ERR": Severity.ERROR,
    "WARN": Severity.WARNING,
    "WARNING": Severity.WARNING,
    "INFO": Severity.INFO,
    "DEBUG": Severity.DEBUG,
}
# Without a declared level, the most severe word a line holds names its severity. Each
# level has cheap substring checks on the lowered line, and a word pattern to confirm them.
_WORDS: tuple[tuple[Severity, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        Severity.CRITICAL,
        ("fatal", "panic", "critical"),
        re.compile(r"\b(?:fatal|panic|critical)\b"),
    ),
    (
        Severity.ERROR,
        ("error", "failed", "exception", "traceback"),
        re.compile(r"\b(?:error|failed|traceback)\b|exception\b"),
    ),
    (Severity.WARNING, ("warn",), re.compile(r"\bwarn(?:ing)?\b")),
    (Severity.DEBUG, ("debug",), re.compile(r"\bdebug\b")),
    (Severity.INFO, ("info",), re.compile(r"\binfo\b")),
)


def guess_severity(text: str) -> Severity:
    """The severity a line declares near its start (`ERROR`, `Warn`), else the most severe
    level word it holds in any case (`failed`, `...Exception`, `Traceback` are errors);
    DEFAULT when it holds none. Terminal colour codes are looked through."""
    if "\x1b" in text:
        text = _ANSI_ESCAPE.sub("", text)
    if declared := _DECLARED.search(text, 0, _DECLARED_WITHIN):
        return _DECLARED_SEVERITY[declared[1].upper()]
    lowered = text.lower()
    for severity, needles, pattern in _WORDS:
        for needle in needles:
            if needle in lowered:
                if pattern.search(lowered):
                    return severity
                break
    return Severity.DEFAULT


def parse_text_line(
    line: bytes | str,
    *,
    source: str,
    project: str,
    service: str,
    now_ns: int,
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
) -> LogEntry | Rejection:
    """One plain text line as an entry; never raises.

    The time comes from a leading timestamp (see `leading_timestamp_ns`), else `now_ns`;
    the insert id hashes `source` (which names the line, `file.log:12`) and the text.
    A trailing newline is not part of the entry.
    """
    try:
        return _text_entry(as_bytes(line), source, project, service, now_ns, max_bytes)
    except InvalidInput as error:
        return Rejection.of(error.reason, error.detail, stored_bytes(line), source)
    except Exception as error:  # the last guard of "parsing never raises"
        return parser_bug(error, line, source)


def _text_entry(
    data: bytes, source: str, project: str, service: str, now_ns: int, max_bytes: int
) -> LogEntry:
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    check_size(data, max_bytes, "line")
    if looks_binary(data):
        raise binary_error(data)
    text = check_utf8(data)
    stamp = leading_timestamp_ns(text, now_ns)
    return LogEntry(
        insert_id=synthetic_insert_id(source.encode("utf-8", "surrogatepass"), data),
        timestamp_ns=now_ns if stamp is None else stamp,
        severity=guess_severity(text),
        message=text,
        project=project,
        service=service,
        resource_labels=NO_LABELS,
        labels=NO_LABELS,
        receive_timestamp_ns=now_ns,
        size=len(data),
        time_assumed=stamp is None,
    )
