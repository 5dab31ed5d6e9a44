"""Keeping a claimed outbox message claimed while its send is still going on.

A claim's lease is short, so a sender that dies gives its message back soon; a sender
that is alive but slow keeps it by renewing the lease from a side thread. Without this a
receiver slower than the lease would get the message again from a second sender.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType
from typing import Protocol

from pipeline.storage import OutboxItem

log = logging.getLogger(__name__)


class ClaimStore(Protocol):
    def extend_claim(self, item: OutboxItem, lease: timedelta) -> bool:
        """Pushes the claim on `item` to `lease` from now; False when it is not held."""
        ...


class ClaimKeeper:
    """Context manager: renews the claim on `item` every third of `lease` until exit."""

    def __init__(self, store: ClaimStore, item: OutboxItem, lease: timedelta) -> None:
        self._store, self._item, self._lease = store, item, lease
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="outbox-claim", daemon=True)

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        interval = self._lease.total_seconds() / 3
        while not self._done.wait(interval):
            try:
                held = self._store.extend_claim(self._item, self._lease)
            except Exception as error:  # the database is away: try again next interval
                log.warning("cannot renew an outbox claim: %s", type(error).__name__,
                            extra={"alert_id": self._item.alert_id})
                continue
            if not held:
                log.warning("outbox claim lost during a send; the message may arrive twice",
                            extra={"alert_id": self._item.alert_id,
                                   "channel": self._item.channel})
                return
