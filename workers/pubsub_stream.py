"""One Pub/Sub StreamingPull stream, held by the ingest, with leases settled in bulk.

The library's `SubscriberClient.subscribe` wraps every message in a `Message` with a lease,
flow control and a dispatch of its own, and acks in groups of a hundred: 55 to 69 µs of
CPU a message on the development machine, more than detecting it. This keeps the same
StreamingPull RPC (the library's generated method, transport and errors), hands each
response's raw `ReceivedMessage`s over at once, and acks, nacks and renews leases a
thousand ack ids a request: 7 to 9 µs a message.

Two threads: one reads the stream (and opens it again when it ends), one sends acks,
nacks and lease renewals, so the caller never waits on Pub/Sub.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import google.api_core.exceptions as gexc
import google.cloud.pubsub_v1 as pubsub_v1  # "from google.cloud import" trips mypy
from google.pubsub_v1 import types

from workers.settling import Dependency

STREAM_ACK_DEADLINE_S = 60  # a delivered message's lease, renewed while it is held
RENEW_EVERY_S = 10.0  # how often the leases of held messages are renewed
HEARTBEAT_S = 30.0  # an empty request this often keeps a quiet stream open
SETTLE_CHUNK = 1000  # ack ids per Acknowledge or ModifyAckDeadline request
MAX_OUTSTANDING_BYTES = 100 * 2**20  # held messages' data at most (the library's default)
QUIET_REOPEN_AFTER_S = 10.0  # a stream that lived this long ended normally: reopen at once
# The stream cannot work: no such subscription, no right to it, a malformed name.
FATAL = (gexc.NotFound, gexc.PermissionDenied, gexc.InvalidArgument, gexc.Unauthenticated,
         gexc.FailedPrecondition)

ReceivedMessage = Any  # google.pubsub.v1.ReceivedMessage, the raw protobuf message
_PullResponse: Any = types.StreamingPullResponse
# Settling requests are built as raw protobuf messages, wrapped without a copy: given the
# ack ids as a field, the client converts them one by one in Python, which cost six
# times the rest of the RPC (4 ms of CPU for a thousand ack ids, against 0.7).
_AckRequest: Any = types.AcknowledgeRequest
_AckRequestPb: Any = types.AcknowledgeRequest.pb()
_DeadlineRequest: Any = types.ModifyAckDeadlineRequest
_DeadlineRequestPb: Any = types.ModifyAckDeadlineRequest.pb()


class Leases:
    """Ack ids held (delivered, neither acked nor nacked): when each arrived, its size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, tuple[float, int]] = {}
        self.bytes = 0

    def add(self, sizes: dict[str, int], now: float) -> None:
        with self._lock:
            for ack_id, size in sizes.items():
                self._since[ack_id] = (now, size)
                self.bytes += size

    def drop(self, ack_ids: Sequence[str]) -> None:
        with self._lock:
            for ack_id in ack_ids:
                held = self._since.pop(ack_id, None)
                if held is not None:
                    self.bytes -= held[1]

    def renewable(self, now: float, max_lease_s: float) -> list[str]:
        """The ack ids to renew; those held longer than `max_lease_s` are let go (Pub/Sub
        delivers them again, and the database counts each delivery once)."""
        with self._lock:
            expired = [a for a, (since, _) in self._since.items() if now - since > max_lease_s]
            for ack_id in expired:
                self.bytes -= self._since.pop(ack_id)[1]
            return list(self._since)

    def __len__(self) -> int:
        return len(self._since)


class PullStream:
    """Delivers a subscription's messages to `deliver`, a response at a time, holding no
    more than `max_outstanding` unsettled (nor more than MAX_OUTSTANDING_BYTES of data);
    `failure` is set when the stream cannot work."""

    def __init__(
        self,
        client: pubsub_v1.SubscriberClient,
        subscription: str,
        deliver: Callable[[Sequence[ReceivedMessage]], None],
        *,
        max_outstanding: int,
        max_lease_s: float,
        log: logging.Logger,
    ) -> None:
        self._client = client
        self._subscription = subscription
        self._deliver = deliver
        self._max_outstanding = max_outstanding
        self._max_lease_s = max_lease_s
        self._leases = Leases()
        self._settles: queue.Queue[tuple[list[str], int] | None] = queue.Queue()
        self._closing = threading.Event()
        self._call: Any = None
        self._client_id = uuid.uuid4().hex
        self._pubsub = Dependency("Pub/Sub", log)
        self._acks = Dependency("Pub/Sub acks", log)
        self._reader = threading.Thread(target=self._read, name="pubsub-stream", daemon=True)
        self._settler = threading.Thread(target=self._settle, name="pubsub-acks", daemon=True)
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._reader.start()
        self._settler.start()

    def ack(self, ack_ids: list[str]) -> None:
        self._release(ack_ids, deadline=-1)

    def nack(self, ack_ids: list[str]) -> None:
        """Hands them back: Pub/Sub delivers them again at once (a deadline of zero)."""
        self._release(ack_ids, deadline=0)

    def close(self, timeout: float = 30.0) -> None:
        """Ends the stream, then sends what is left to settle; held leases simply lapse."""
        self._closing.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._reader.join(timeout)
        self._settles.put(None)
        self._settler.join(timeout)

    def _release(self, ack_ids: list[str], deadline: int) -> None:
        if ack_ids:
            self._leases.drop(ack_ids)
            self._settles.put((ack_ids, deadline))

    def _read(self) -> None:
        while not self._closing.is_set():
            opened = time.monotonic()
            try:
                self._stream()
            except FATAL as error:
                self.failure = error
                return
            except Exception as error:
                if self._closing.is_set():
                    return
                if time.monotonic() - opened < QUIET_REOPEN_AFTER_S:  # else: it ran its time
                    self._pubsub.failed(error)
                    self._closing.wait(self._pubsub.pause_s())
            else:  # the service ended the stream
                if time.monotonic() - opened < QUIET_REOPEN_AFTER_S:
                    self._closing.wait(1.0)

    def _stream(self) -> None:
        """One stream, until the service ends it (it does every so often) or it fails."""
        ended = threading.Event()
        self._call = self._client.streaming_pull(requests=self._requests(ended))
        if self._closing.is_set():  # `close` may have looked before the call was made
            self._call.cancel()
        try:
            for response in self._call:
                received = _PullResponse.pb(response).received_messages
                self._leases.add({r.ack_id: len(r.message.data) for r in received},
                                 time.monotonic())
                self._pubsub.ok()
                self._deliver(received)
                while self._full() and not self._closing.is_set():
                    time.sleep(0.05)  # the service holds the rest back too (the first request)
        finally:
            ended.set()
            self._call = None

    def _full(self) -> bool:
        leases = self._leases
        return len(leases) >= self._max_outstanding or leases.bytes >= MAX_OUTSTANDING_BYTES

    def _requests(self, ended: threading.Event) -> Iterator[Any]:
        yield types.StreamingPullRequest(
            subscription=self._subscription,
            stream_ack_deadline_seconds=STREAM_ACK_DEADLINE_S,
            max_outstanding_messages=self._max_outstanding,
            max_outstanding_bytes=MAX_OUTSTANDING_BYTES,
            client_id=self._client_id,
        )
        while not ended.wait(HEARTBEAT_S) and not self._closing.is_set():
            yield types.StreamingPullRequest()

    def _settle(self) -> None:
        renew_at = time.monotonic() + RENEW_EVERY_S
        while True:
            try:
                item = self._settles.get(timeout=max(0.0, renew_at - time.monotonic()))
            except queue.Empty:
                pass  # time to renew
            else:
                if item is None:
                    return
                self._send(*item)
            if time.monotonic() >= renew_at and not self._closing.is_set():
                self._send(self._leases.renewable(time.monotonic(), self._max_lease_s),
                           STREAM_ACK_DEADLINE_S)
                renew_at = time.monotonic() + RENEW_EVERY_S

    def _send(self, ack_ids: list[str], deadline: int) -> None:
        """Acks (deadline < 0) or sets the deadline of these ack ids, a chunk a request.
        A failure loses nothing: Pub/Sub delivers the messages again."""
        for start in range(0, len(ack_ids), SETTLE_CHUNK):
            chunk = ack_ids[start : start + SETTLE_CHUNK]
            try:
                if deadline < 0:
                    self._client.acknowledge(request=_AckRequest.wrap(_AckRequestPb(
                        subscription=self._subscription, ack_ids=chunk)))
                else:
                    self._client.modify_ack_deadline(request=_DeadlineRequest.wrap(
                        _DeadlineRequestPb(subscription=self._subscription, ack_ids=chunk,
                                           ack_deadline_seconds=deadline)))
            except Exception as error:
                self._acks.failed(error)
            else:
                self._acks.ok()
