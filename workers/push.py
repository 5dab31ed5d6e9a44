"""`POST /pubsub/push`: Pub/Sub push delivery onto the same parse → batch → enqueue path.

A request is answered 2xx only once its entry is safe: in a batch the broker has
taken, or stored as a dead letter. A malformed envelope is dead-lettered and answered
204 too, since anything else makes Pub/Sub redeliver it forever. Requests with neither
the configured token nor a valid Google OIDC token are refused with 401 (`push_auth`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.batch import Batch, Batcher, BatchLimits
from pipeline.ingest import Ingest
from pipeline.parsing import Rejection, parse_push_body
from pipeline.storage import DeadLetterRow, Store
from workers.push_auth import PushAuth

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576


class PushReceiver:
    """Owns the batcher on the event loop; each request waits for its batch's fate."""

    def __init__(
        self,
        store: Store,
        enqueue: Callable[[Batch], None],
        auth: PushAuth,
        limits: BatchLimits | None = None,
    ) -> None:
        self._store = store
        self._enqueue = enqueue
        self._auth = auth
        self._closed: list[Batch] = []
        self._waiting: dict[int, asyncio.Future[bool]] = {}  # id(entry) -> outcome
        self.ingest = Ingest(
            Batcher(limits or BatchLimits()), self._closed.append, lambda r: None, source="push"
        )

    async def authorised(self, request: Request) -> bool:
        return await asyncio.to_thread(
            self._auth.allows,
            request.query_params.get("token", ""),
            request.headers.get("authorization", ""),
        )

    async def receive(self, body: bytes) -> bool:
        """True once the message is safe (enqueued or dead-lettered)."""
        _, item = parse_push_body(body)
        if isinstance(item, Rejection):
            row = DeadLetterRow.from_rejection(item)
            await asyncio.to_thread(self._store.add_dead_letters, [row])
            self.ingest.feed(item, time.monotonic())
            return True
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[id(item)] = outcome
        self.ingest.feed(item, time.monotonic())
        await self._ship_closed()
        return await outcome

    async def tick(self) -> None:
        self.ingest.tick(time.monotonic())
        await self._ship_closed()

    async def flush(self) -> None:
        self.ingest.close()
        await self._ship_closed()

    async def _ship_closed(self) -> None:
        while self._closed:
            batch = self._closed.pop(0)
            try:
                await asyncio.to_thread(self._enqueue, batch)
                ok = True
            except Exception:
                log.exception(
                    "enqueue failed; push requests answered 503", extra={"batch_id": batch.id}
                )
                ok = False
            for entry in batch.entries:
                future = self._waiting.pop(id(entry), None)
                if future is not None and not future.done():
                    future.set_result(ok)


async def _bounded_body(request: Request) -> bytes:
    """The body, read no further than one byte past the limit: enough to reject it as
    oversized without holding whatever a client chose to send."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)[: MAX_BODY_BYTES + 1]


def make_push_app(receiver: PushReceiver, tick_s: float = 0.25) -> Starlette:
    async def push(request: Request) -> Response:
        if not await receiver.authorised(request):
            return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        ok = await receiver.receive(await _bounded_body(request))
        return Response(status_code=204 if ok else 503)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "open_entries": receiver.ingest.batcher.pending})

    @asynccontextmanager
    async def lifespan(app: Starlette):
        async def ticker() -> None:
            while True:
                await asyncio.sleep(tick_s)
                await receiver.tick()

        task = asyncio.create_task(ticker())
        yield
        task.cancel()
        await receiver.flush()

    return Starlette(
        routes=[Route("/pubsub/push", push, methods=["POST"]), Route("/healthz", health)],
        lifespan=lifespan,
    )
