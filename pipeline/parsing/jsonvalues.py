"""The top-level values of a JSON array (or of JSON values one after another), streamed.

`gcloud logging read --format=json` writes one pretty-printed array; `jq '.[]'` writes
pretty-printed objects one after another. Neither fits line by line, and neither should
be loaded whole: this scanner finds where each value starts and ends (tracking brackets
and strings only), so memory holds one value at a time and each value is decoded, or
rejected, on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pipeline.parsing.rejection import MAX_STORED_RAW

_CHUNK = 1 << 20
_STRUCTURE = re.compile(rb'[\[\]{}"]')
_STRING_END = re.compile(rb'["\\]')
_SCALAR_END = re.compile(rb"[,\]\s]")
_SKIP = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class JsonValue:
    """One top-level value: its bytes (only the first ones when oversize), where it starts."""

    data: bytes
    size: int  # the value's full size in bytes
    line: int  # the line it starts on, from 1
    oversize: bool = False
    trailing: bool = False  # not a value: text after the array's closing bracket


class _Buffer:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.data = bytearray()
        self.eof = False
        self.line = 1  # the line at `counted`
        self.counted = 0

    def fill(self) -> bool:
        """Reads more; False at the end of the input."""
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.data += chunk
        return True

    def line_at(self, pos: int) -> int:
        self.line += self.data.count(b"\n", self.counted, pos)
        self.counted = pos
        return self.line

    def drop_before(self, pos: int) -> None:
        """Forgets the bytes before `pos` (counting their lines first)."""
        self.line_at(pos)
        del self.data[:pos]
        self.counted = 0

    def cut(self, start: int, pos: int) -> None:
        """Forgets the bytes between `start` and `pos` (the middle of an oversize value)."""
        self.line_at(pos)
        del self.data[start:pos]
        self.counted = start


def json_values(stream: BinaryIO, *, in_array: bool, max_bytes: int) -> Iterator[JsonValue]:
    """Each top-level value of `stream`; never raises for bad content.

    With `in_array`, the stream is one array: its `[` is skipped, commas between values
    too, and reading stops at its `]` (anything but whitespace after it comes back as
    one `trailing` value). A value the input ends inside comes back cut short, for the
    decoder to reject. A value over `max_bytes` keeps only its first bytes.
    """
    buf = _Buffer(stream)
    pos = _skip(buf, 0, b"")
    if in_array and pos < len(buf.data) and buf.data[pos : pos + 1] == b"[":
        pos += 1
    separators = b"," if in_array else b""
    while True:
        buf.drop_before(pos)
        pos = _skip(buf, 0, separators)
        if pos >= len(buf.data):
            return
        if in_array and buf.data[pos : pos + 1] == b"]":
            yield from _trailing(buf, pos + 1)
            return
        value, pos = _value(buf, pos, max_bytes)
        yield value


def _skip(buf: _Buffer, pos: int, also: bytes) -> int:
    """The position of the next byte that is not whitespace (or one of `also`)."""
    skip = _SKIP + also
    while True:
        while pos < len(buf.data) and buf.data[pos] in skip:
            pos += 1
        if pos < len(buf.data) or not buf.fill():
            return pos


def _trailing(buf: _Buffer, pos: int) -> Iterator[JsonValue]:
    pos = _skip(buf, pos, b"")
    if pos < len(buf.data):
        rest = bytes(buf.data[pos : pos + MAX_STORED_RAW])
        yield JsonValue(rest, len(rest), buf.line_at(pos), trailing=True)


def _value(buf: _Buffer, start: int, max_bytes: int) -> tuple[JsonValue, int]:
    """Scans the value at `start`; returns it and the position just after it."""
    line = buf.line_at(start)
    first = buf.data[start : start + 1]
    if first not in b'[{"':
        end = _scalar_end(buf, start)
        return JsonValue(bytes(buf.data[start:end]), end - start, line), end
    in_string, pos = first == b'"', start + 1
    depth = 0 if in_string else 1
    head: bytes | None = None
    dropped = 0
    while True:
        pattern = _STRING_END if in_string else _STRUCTURE
        match = pattern.search(buf.data, pos)
        if match is None:
            ahead = max(0, pos - len(buf.data))  # an escaped byte not yet read
            if head is None and len(buf.data) - start > max_bytes + 2:
                head = bytes(buf.data[start : start + MAX_STORED_RAW])
            if head is not None and len(buf.data) > start:  # keep memory to one chunk
                dropped += len(buf.data) - start
                buf.cut(start, len(buf.data))
            pos = len(buf.data) + ahead
            if not buf.fill():
                return _ended(buf, start, head, dropped, line), len(buf.data)
            continue
        token, pos = match[0], match.end()
        if in_string:
            if token == b"\\":
                pos += 1  # the escaped byte, even when it is yet to be read
            else:
                in_string = False
        elif token == b'"':
            in_string = True
        elif token in b"[{":
            depth += 1
        else:
            depth -= 1
        if depth == 0 and not in_string:
            return _ended(buf, start, head, dropped, line, pos), pos


def _ended(
    buf: _Buffer, start: int, head: bytes | None, dropped: int, line: int, end: int | None = None
) -> JsonValue:
    end = len(buf.data) if end is None else min(end, len(buf.data))
    if head is not None:
        return JsonValue(head, dropped + end - start, line, oversize=True)
    return JsonValue(bytes(buf.data[start:end]), end - start, line)


def _scalar_end(buf: _Buffer, start: int) -> int:
    while True:
        match = _SCALAR_END.search(buf.data, start)
        if match is not None:
            return match.start()
        if not buf.fill():
            return len(buf.data)
