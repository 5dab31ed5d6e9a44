"""`logwarden tail`: live entries from Cloud Logging (tail_log_entries) into the embedded
pipeline, on a laptop, with no sink or subscription needed. Ctrl-C stops it; what was
received is processed and summed up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.logging_v2.types import TailLogEntriesRequest
from google.protobuf import duration_pb2

from workers.backfill import _stop_on_interrupt
from workers.embedded import RunSummary, run_embedded
from workers.gcp_clients import logging_client, refused
from workers.gcp_feed import LineStream, entry_json
from workers.settings import Settings


def tail(
    settings: Settings,
    project: str,
    log_filter: str,
    *,
    max_entries: int | None = None,
    seconds: float | None = None,
    buffer_s: int = 2,
) -> RunSummary:
    """Tails `project` until Ctrl-C, `max_entries` entries or `seconds` seconds."""
    stream = _Tail(settings, project, log_filter, buffer_s)
    timer = threading.Timer(seconds, stream.stop) if seconds else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with _stop_on_interrupt(stream.stop):
            return run_embedded(
                LineStream(stream.lines(max_entries)),  # type: ignore[arg-type]
                source_name="tail",
                settings=settings,
                project=project,
                progress=False,
            )
    finally:
        if timer is not None:
            timer.cancel()


class _Tail:
    def __init__(self, settings: Settings, project: str, log_filter: str, buffer_s: int) -> None:
        self._client = logging_client(settings)
        self._request = TailLogEntriesRequest(
            resource_names=[f"projects/{project}"],
            filter=log_filter,
            buffer_window=duration_pb2.Duration(seconds=buffer_s),
        )
        self._call: Any = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self._call is not None:
            self._call.cancel()  # wakes the read that waits for the next entries

    def lines(self, max_entries: int | None) -> Iterator[bytes]:
        self._call = self._client.tail_log_entries(requests=iter([self._request]))
        count = 0
        try:
            for response in self._call:
                for entry in response.entries:
                    yield entry_json(entry)
                    count += 1
                    if max_entries is not None and count >= max_entries:
                        return
                if self._stopped.is_set():
                    return
        except gexc.Cancelled:
            return
        except gexc.GoogleAPICallError as error:
            if self._stopped.is_set():
                return
            raise refused(error, "tailing log entries", "read") from None
