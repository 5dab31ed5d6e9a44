"""One authorised API call, and the wrapper that makes it: token checked, write access
checked for a write, the body read (bounded), then the handler run off the event loop
(handlers query the database, which blocks)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from workers.api.errors import ApiError
from workers.api.params import MAX_BODY_BYTES, parse_body
from workers.api.tokens import Grant, TokenTable
from workers.bounded_body import bounded_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    grant: Grant
    body: dict[str, Any]

    def path_id(self, name: str = "id") -> str:
        return str(self.request.path_params[name])

    def actor(self, named: str | None) -> str:
        """Who did it, for the incident's record: the person the client names, and the
        token it came through (which alone vouches for it)."""
        return f"{named} (via {self.grant.name})" if named else self.grant.name

    def audit(self, action: str, target: str) -> None:
        """One log line per change: which token did what to what."""
        log.info("api %s", action, extra={"token": self.grant.name, "target": target})


Handler = Callable[[Call], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(tokens: TokenTable, handler: Handler, *, write: bool = False) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        grant = tokens.grant_for(request.headers.get("authorization", ""))
        if write and not grant.can_write:
            raise ApiError(403, f"The token {grant.name!r} may only read; acknowledging, "
                                "resolving, feedback and silences need one with write access.")
        body = parse_body(await bounded_body(request, MAX_BODY_BYTES)) if write else {}
        return await run_in_threadpool(handler, Call(request, grant, body))

    return endpoint
