"""`logwarden backfill`: past entries from Cloud Logging (list_entries) through the pipeline.

Entries are read oldest first, a page at a time, and fed to the same embedded pipeline as
`logwarden run`. A checkpoint file remembers how far a run got (the last timestamp fed
and the insert ids fed at that instant), so a run stopped by Ctrl-C or by a refusal from
the API (a quota, a lost connection) goes on from there when the same command is run
again. The checkpoint is written when a run stops cleanly, after every entry read has
been processed and stored.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from google.api_core import exceptions as gexc

from workers.embedded import RunSummary, run_embedded
from workers.gcp_clients import logging_client, refused
from workers.gcp_feed import LineStream, entry_json, open_copy
from workers.settings import Settings


@dataclass(frozen=True)
class BackfillQuery:
    project: str
    filter: str
    start: str  # RFC 3339
    end: str

    def expression(self, after: str | None) -> str:
        """The Logging query: the user's filter within [start, end), or from `after` on."""
        since = f'timestamp >= "{after or self.start}"'
        parts = [f"({self.filter})"] if self.filter.strip() else []
        return " AND ".join([*parts, since, f'timestamp < "{self.end}"'])


@dataclass
class Checkpoint:
    query: dict[str, str]
    after: str | None = None  # the timestamp of the last entry fed
    seen: list[str] = field(default_factory=list)  # insert ids fed at `after`
    entries: int = 0
    complete: bool = False

    @classmethod
    def load(cls, path: Path, query: BackfillQuery) -> Checkpoint:
        """The checkpoint of this same query, or a fresh one."""
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("query") == asdict(query):
                return cls(**data)
        return cls(asdict(query))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    def note(self, timestamp: str, insert_id: str) -> bool:
        """Records an entry about to be fed; False when an earlier run fed it already."""
        if timestamp == self.after:
            if insert_id in self.seen:
                return False
            self.seen.append(insert_id)
        else:
            self.after, self.seen = timestamp, [insert_id]
        self.entries += 1
        return True


@dataclass
class BackfillRun:
    summary: RunSummary
    checkpoint: Checkpoint
    stopped_by: str | None  # None when the range was read to its end


def backfill(
    settings: Settings,
    query: BackfillQuery,
    checkpoint_path: Path,
    *,
    page_size: int = 1000,
    save: Path | None = None,
    progress: bool | None = None,
) -> BackfillRun:
    """Reads `query` from where its checkpoint says and processes it; raises CliError
    (naming the role) when the first page is refused, so nothing is half-done."""
    checkpoint = Checkpoint.load(checkpoint_path, query)
    reader = _PageReader(settings, query, checkpoint, page_size)
    copy = open_copy(save)
    with _stop_on_interrupt(reader.stop):
        try:
            summary = run_embedded(
                LineStream(reader.lines(copy)),  # type: ignore[arg-type]
                source_name="cloud-logging",
                settings=settings,
                project=query.project,
                progress=progress,
            )
        finally:
            if copy is not None:
                copy.close()
    checkpoint.complete = reader.stopped_by is None
    checkpoint.save(checkpoint_path)
    return BackfillRun(summary, checkpoint, reader.stopped_by)


class _PageReader:
    def __init__(
        self, settings: Settings, query: BackfillQuery, checkpoint: Checkpoint, page_size: int
    ) -> None:
        self.client = logging_client(settings)
        self.query = query
        self.checkpoint = checkpoint
        self.page_size = page_size
        self.stopped_by: str | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def lines(self, copy: IO[bytes] | None) -> Iterator[bytes]:
        if self.checkpoint.complete:
            return
        request = {
            "resource_names": [f"projects/{self.query.project}"],
            "filter": self.query.expression(self.checkpoint.after),
            "order_by": "timestamp asc",
            "page_size": self.page_size,
        }
        try:  # the pager asks for the first page right away
            pages = self.client.list_log_entries(request=request).pages
        except gexc.GoogleAPICallError as error:
            raise refused(error, "reading log entries", "read") from None
        while not self._stop.is_set():
            try:
                page = next(pages, None)
            except gexc.GoogleAPICallError as error:
                if self.checkpoint.entries == 0:
                    raise refused(error, "reading log entries", "read") from None
                self.stopped_by = str(refused(error, "reading the next page", "read").message)
                return
            if page is None:
                return
            yield from self._fed(page.entries, copy)
        self.stopped_by = "interrupted"

    def _fed(self, entries: Any, copy: IO[bytes] | None) -> Iterator[bytes]:
        for entry in entries:
            stamp = entry.timestamp.isoformat().replace("+00:00", "Z")
            if not self.checkpoint.note(stamp, entry.insert_id):
                continue
            line = entry_json(entry)
            if copy is not None:
                copy.write(line)
            yield line


class _stop_on_interrupt:
    """The first Ctrl-C asks the reader to stop after its page (so what was read is
    processed and the checkpoint saved); a second one stops at once."""

    def __init__(self, stop: Any) -> None:
        self._stop = stop
        self._previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self._stop()
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
