"""A file or stdin of log entries, whatever its format: detected, then read as that format.

JSON lines (a log sink's export, `kubectl logs` of JSON-logging apps: plain text lines
among them stay text), one JSON array (`gcloud logging read --format=json`), JSON
objects one after another (`jq '.[]'`), or plain text; each possibly gzipped. The
format is decided once, from the first line, and said back (`InputKind`), so a file
that is clearly one format is never read as another.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from pipeline.entry import LogEntry
from pipeline.parsing.jsonvalues import JsonValue, json_values
from pipeline.parsing.lines import iter_numbered_lines, json_entry
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    MAX_STORED_RAW,
    Rejection,
    RejectReason,
)

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_HEAD_BYTES = 64 * 1024


class InputFormat(StrEnum):
    JSON_LINES = "JSON lines"
    JSON_ARRAY = "JSON array"
    JSON_OBJECTS = "JSON objects"
    TEXT = "plain text"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class InputKind:
    format: InputFormat
    gzip: bool = False

    def __str__(self) -> str:
        return f"{self.format}, gzip" if self.gzip else str(self.format)


class InputError(Exception):
    """The input cannot be read on (a gzip stream that is corrupt, say): stop, say why."""


def read_input(
    stream: BinaryIO,
    *,
    source_name: str,
    project: str,
    service: str,
    now_ns: int,
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
) -> tuple[InputKind, Iterator[tuple[int, LogEntry | Rejection]]]:
    """Detects the format of `stream` and returns it with its entries (or rejections),
    numbered: by line for a line format, by position (from 1) for JSON values.

    Never raises for bad content; the iterator raises InputError only when the bytes
    cannot be read on at all (corrupt gzip). Sources are `source_name:line`.
    """
    head, stream = _head(stream)
    compressed = head.startswith(_GZIP_MAGIC)
    if compressed:
        stream = io.BufferedReader(gzip.GzipFile(fileobj=stream, mode="rb"))
        try:
            head, stream = _head(stream)
        except (OSError, EOFError, zlib.error) as error:
            message = f"{source_name}: the gzip data is corrupt or cut short ({error})"
            raise InputError(message) from None
    kind = InputKind(detect_format(head), compressed)
    items: Iterator[tuple[int, LogEntry | Rejection]]
    if kind.format in (InputFormat.JSON_ARRAY, InputFormat.JSON_OBJECTS):
        values = json_values(
            stream, in_array=kind.format is InputFormat.JSON_ARRAY, max_bytes=max_bytes
        )
        items = (
            (n, _entry(v, source_name, project, now_ns, max_bytes))
            for n, v in enumerate(values, 1)
        )
    else:
        items = iter_numbered_lines(
            stream, source_name=source_name, project=project, service=service,
            now_ns=now_ns, max_bytes=max_bytes,
        )  # fmt: skip
    return kind, _readable(items, source_name) if compressed else items


def detect_format(head: bytes) -> InputFormat:
    """The format of an input that starts with `head` (decompressed), from its first line."""
    text = head.removeprefix(_BOM).lstrip()
    if not text:
        return InputFormat.EMPTY
    first_line = text.split(b"\n", 1)[0].strip()
    # "[" alone could start a text line ("[Sun Dec 04 ...] [error]"); "[" then "{" or "]" not.
    if text[:1] == b"[" and text[1:].lstrip()[:1] in (b"{", b"]"):
        return InputFormat.JSON_ARRAY
    if first_line == b"{":
        return InputFormat.JSON_OBJECTS
    if text[:1] == b"{":
        return InputFormat.JSON_LINES
    return InputFormat.TEXT


def _entry(
    value: JsonValue, source_name: str, project: str, now_ns: int, max_bytes: int
) -> LogEntry | Rejection:
    source = f"{source_name}:{value.line}"
    if value.trailing:
        detail = "Text follows the end of the JSON array."
        return Rejection(RejectReason.INVALID_JSON, detail, value.data, value.size, source)
    if value.oversize:
        detail = f"The entry is {value.size} bytes, over the limit of {max_bytes} bytes."
        raw = value.data[:MAX_STORED_RAW]
        return Rejection(RejectReason.OVERSIZED, detail, raw, value.size, source)
    return json_entry(value.data, source, project, now_ns, max_bytes)


def _readable(
    items: Iterator[tuple[int, LogEntry | Rejection]], source_name: str
) -> Iterator[tuple[int, LogEntry | Rejection]]:
    try:
        yield from items
    except (OSError, EOFError, zlib.error) as error:
        message = f"{source_name}: the gzip data is corrupt or cut short ({error})"
        raise InputError(message) from None


def _head(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first bytes (at least a whole first line when there is one), and a stream that
    still starts at the beginning. Reads only what is there, so a live pipe is not held up."""
    read = getattr(stream, "read1", stream.read)
    head = b""
    while len(head) < _HEAD_BYTES:
        chunk = read(_HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
        if _decidable(head):
            break
    return head, io.BufferedReader(_Rewound(head, stream), _HEAD_BYTES)


def _decidable(head: bytes) -> bool:
    """True once `head` holds its first line whole (and, after a "[", what follows it)."""
    text = head.removeprefix(_BOM).lstrip()
    if text[:1] == b"[" and not text[1:].lstrip():
        return False
    return b"\n" in text


class _Rewound(io.RawIOBase):
    """`head`, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self._read = getattr(rest, "read1", rest.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
