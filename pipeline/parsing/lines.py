"""A file or stdin, line by line: JSON LogEntry lines and plain text lines mixed."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import BinaryIO

from pipeline.entry import LogEntry
from pipeline.parsing.logentry import entry_of, parse_entry_or_reject
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    MAX_STORED_RAW,
    Rejection,
    RejectReason,
)
from pipeline.parsing.text import parse_text_line

_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 20
_LF = ord("\n")
_CR = ord("\r")
_BRACE = ord("{")


def iter_lines(
    stream: BinaryIO,
    *,
    source_name: str,
    project: str,
    service: str,
    now_ns: int,
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
) -> Iterator[LogEntry | Rejection]:
    """Parses each non-blank line of `stream`; see `iter_numbered_lines`."""
    for _, item in iter_numbered_lines(
        stream, source_name=source_name, project=project, service=service, now_ns=now_ns,
        max_bytes=max_bytes,
    ):  # fmt: skip
        yield item


def iter_numbered_lines(
    stream: BinaryIO,
    *,
    source_name: str,
    project: str,
    service: str,
    now_ns: int,
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
) -> Iterator[tuple[int, LogEntry | Rejection]]:
    """Parses each non-blank line of `stream`, with its line number (from 1); never raises
    for bad content.

    A line starting with `{` is a JSON LogEntry (an entry without a project takes
    `project`); any other line is plain text of `project` and `service`. Sources are
    `source_name:lineno`. A line over `max_bytes` is rejected without being held whole
    in memory.
    """
    cap = max_bytes + 2  # room for the content, "\r" and "\n"
    # readline is called from C: a generator of ours in between was one more Python
    # step per line.
    for lineno, line in enumerate(iter(partial(stream.readline, cap), b""), 1):
        if line[0] == _BRACE and line[-1] == _LF:
            # The usual line, a JSON entry and its end, in the fewest steps: read whole
            # (so not over the cap), neither blank nor starting with a BOM. Parsed with
            # its end, without a copy that cuts it off; one the parse rejects is parsed
            # again as json_entry does, for the very words it gives.
            size = len(line) - 2 if line[-2] == _CR else len(line) - 1
            source = f"{source_name}:{lineno}"
            try:
                item: LogEntry | Rejection = entry_of(
                    line, size, max_bytes, now_ns, now_ns, source, project)
            except Exception:  # any: the parse below gives the rejection
                item = parse_entry_or_reject(line[:size], source, max_bytes, now_ns, now_ns,
                                             project)
            yield lineno, item
            continue
        oversize = _skipped_size(stream, line) if len(line) == cap and line[-1] != _LF else 0
        if lineno == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if not line or line.isspace():
            continue
        source = f"{source_name}:{lineno}"
        if oversize:
            detail = f"The line is {oversize} bytes, over the limit of {max_bytes} bytes."
            rejected = Rejection(
                RejectReason.OVERSIZED, detail, line[:MAX_STORED_RAW], oversize, source
            )
            yield lineno, rejected
        elif line[:1] == b"{" or line.lstrip(b" \t")[:1] == b"{":
            yield lineno, json_entry(line, source, project, now_ns, max_bytes)
        else:
            yield lineno, parse_text_line(
                line, source=source, project=project, service=service, now_ns=now_ns,
                max_bytes=max_bytes,
            )  # fmt: skip


def json_entry(
    line: bytes, source: str, project: str, now_ns: int, max_bytes: int
) -> LogEntry | Rejection:
    # Slices compared, not endswith: in CPython 3.11 bytes.endswith, startswith and lstrip
    # parse their arguments as a tuple, which cost as much as the rest of these lines.
    if line[-1:] == b"\n":
        line = line[:-2] if line[-2:-1] == b"\r" else line[:-1]
    return parse_entry_or_reject(line, source, max_bytes, now_ns, now_ns, project)


def _skipped_size(stream: BinaryIO, start: bytes) -> int:
    """The full size of a line far over the limit, of which `start` was read: the rest is
    read past in chunks, never held whole. (Lines just over the limit are read whole, and
    the parsers reject them themselves.)"""
    size = len(start)
    while chunk := stream.readline(_SKIP_CHUNK):
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return size
