"""`POST /pubsub/push`: Pub/Sub push delivery onto the same parse → batch → enqueue path.

A request is held until its entry is safe, then answered 204: its batch is recorded in
the database (or failed for good and kept as dead letters), or it is stored as a dead
letter itself. Otherwise (broker or database away, or no record within the
`record_timeout_s`) it is answered 503 and Pub/Sub delivers it again. A malformed
envelope is dead-lettered and answered 204 too, since anything else makes Pub/Sub
redeliver it forever. Requests with neither the configured token nor a valid Google
OIDC token are refused with 401 (`push_auth`).
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
from pipeline.ingest import Ingest, keep_rejections
from pipeline.parsing import Rejection, parse_push_body
from pipeline.storage import Store
from workers.bounded_body import bounded_body
from workers.push_auth import PushAuth
from workers.settling import Dependency, Unrecorded

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
CHECK_EVERY_S = 0.5  # how often the database is asked which batches are recorded


class PushReceiver:
    """Owns the batcher on the event loop; each request waits for its batch's record."""

    def __init__(
        self,
        store: Store,
        enqueue: Callable[[Batch], None],
        auth: PushAuth,
        limits: BatchLimits | None = None,
        record_timeout_s: float = 50.0,
    ) -> None:
        self._store = store
        self._enqueue = enqueue
        self._auth = auth
        self._closed: list[Batch] = []
        self._waiting: dict[int, asyncio.Future[bool]] = {}  # id(entry) -> its answer
        self._unrecorded: Unrecorded[asyncio.Future[bool]] = Unrecorded(record_timeout_s)
        self._broker = Dependency("broker", log)
        self._database = Dependency("database", log)
        self._checked_at = 0.0
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
        """True once the message is safe: its batch recorded, or it is a stored dead letter."""
        _, item = parse_push_body(body)
        if isinstance(item, Rejection):
            self.ingest.feed(item, time.monotonic())
            try:
                await asyncio.to_thread(keep_rejections, self._store, [item])
            except Exception as error:
                self._database.failed(error)
                return False
            self._database.ok()
            return True
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[id(item)] = outcome
        self.ingest.feed(item, time.monotonic())
        await self._ship_closed()
        return await outcome

    async def tick(self) -> None:
        self.ingest.tick(time.monotonic())
        await self._ship_closed()
        await self._check_recorded()

    async def flush(self, wait_s: float = 10.0) -> None:
        """At shutdown: sends the open batches, waits a little for their records, and
        answers whatever is still waiting with 503."""
        self.ingest.close()
        await self._ship_closed()
        deadline = time.monotonic() + wait_s
        while len(self._unrecorded) and time.monotonic() < deadline:
            await asyncio.sleep(CHECK_EVERY_S)
            await self._check_recorded()
        _answer(self._unrecorded.take_all(), ok=False)

    async def _ship_closed(self) -> None:
        while self._closed:
            batch = self._closed.pop(0)
            answers = [f for e in batch.entries if (f := self._waiting.pop(id(e), None))]
            try:
                await asyncio.to_thread(self._enqueue, batch)
            except Exception as error:
                self._broker.failed(error)
                _answer(answers, ok=False)  # 503: Pub/Sub retries, with its own backoff
                continue
            self._broker.ok()
            self._unrecorded.add(batch.id, answers)

    async def _check_recorded(self) -> None:
        """One query for every waiting batch; answers 204 for the recorded ones, 503 for
        those that waited `record_timeout_s`."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        if len(self._unrecorded) and self._database.ready():
            try:
                settled = await asyncio.to_thread(
                    self._store.settled_batches, self._unrecorded.ids()
                )
            except Exception as error:
                self._database.failed(error)
            else:
                self._database.ok()
                _answer(self._unrecorded.recorded(settled), ok=True)
        late, answers = self._unrecorded.expired()
        if late:
            log.warning("batches not recorded in time; their requests answered 503",
                        extra={"batches": late, "requests": len(answers)})
            _answer(answers, ok=False)


def _answer(answers: list[asyncio.Future[bool]], *, ok: bool) -> None:
    for answer in answers:
        if not answer.done():  # a client that hung up cancelled its own
            answer.set_result(ok)


def make_push_app(receiver: PushReceiver, tick_s: float = 0.25) -> Starlette:
    async def push(request: Request) -> Response:
        if not await receiver.authorised(request):
            return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        ok = await receiver.receive(await bounded_body(request, MAX_BODY_BYTES))
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
