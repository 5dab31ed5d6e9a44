"""Reading a request body no further than a limit, for every HTTP endpoint we serve."""

from __future__ import annotations

from starlette.requests import Request


async def bounded_body(request: Request, limit: int) -> bytes:
    """The body, read no further than one byte past `limit`: enough to reject it as
    oversized without holding whatever a client chose to send."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]
