"""The HTTP API, mounted under /api/v1 of the `logwarden push` server (or served alone
by `logwarden api`).

Every endpoint but /health and /openapi.json needs `Authorization: Bearer <token>`; a
token sees only the projects it was configured with, and a read-only token changes
nothing. An object of another project answers 404, as one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pipeline.storage import Store
from workers.api.anomalies import anomaly_routes
from workers.api.errors import HANDLERS
from workers.api.incidents import incident_routes
from workers.api.openapi import openapi_document
from workers.api.silences import silence_routes
from workers.api.tokens import TokenTable

PREFIX = "/api/v1"


def make_api_app(store: Store, tokens: TokenTable, *,
                 notify_now: Callable[[], None] = lambda: None,
                 now_ns: Callable[[], int] = time.time_ns) -> Starlette:
    """The API's routes, relative to where it is mounted (PREFIX). `notify_now` wakes
    the senders after a change that queued a message (the fleet sends a notify task)."""
    incidents = store.incidents  # the same verbs as the CLI, on the store's clock

    def database_answers() -> bool:
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def health(request: Request) -> Response:
        if await run_in_threadpool(database_answers):
            return JSONResponse({"status": "ok", "database": "ok"})
        return JSONResponse({"status": "unavailable", "database": "unreachable",
                             "error": "The database does not answer."}, status_code=503)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(PREFIX))

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *anomaly_routes(store, tokens, now_ns),
        *incident_routes(incidents, tokens, notify_now, now_ns),
        *silence_routes(incidents, tokens),
    ]
    return Starlette(routes=routes, exception_handlers=HANDLERS)
