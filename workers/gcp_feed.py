"""Cloud Logging entries from the API into the embedded pipeline, as the JSON a sink writes.

The API's entries are protobuf messages; the pipeline reads LogEntry JSON. Each entry
is written as one JSON line (what a log sink would publish), and the lines are handed
to `run_embedded` as a stream, so `backfill` and `tail` run the very code `run` runs.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import google.cloud.audit.audit_log_pb2  # noqa: F401  (lets audit-log protoPayloads print)
from google.cloud.logging_v2.types import LogEntry


def entry_json(entry: LogEntry) -> bytes:
    """One LogEntry as a JSON line, with unset fields left out as the API's JSON does."""
    try:
        text = LogEntry.to_json(entry, use_integers_for_enums=False, indent=None)
        data: dict[str, Any] = json.loads(text)
    except TypeError:  # a protoPayload of a type this process does not know
        bare = LogEntry(entry)
        type_url = bare.proto_payload.type_url
        bare.proto_payload = None
        data = json.loads(LogEntry.to_json(bare, use_integers_for_enums=False, indent=None))
        data["protoPayload"] = {"@type": type_url}
    kept = {k: v for k, v in data.items() if v not in ("", {}, [], False, None)}
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class LineStream(io.RawIOBase):
    """A readable binary stream over an iterator of lines (produced as they are read)."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._pending = line
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def open_copy(path: Path | None) -> IO[bytes] | None:
    """Where `--save` writes the entries too (gzipped when the name ends in .gz)."""
    if path is None:
        return None
    if path.suffix == ".gz":
        return gzip.open(path, "ab")  # type: ignore[return-value]
    return path.open("ab")
