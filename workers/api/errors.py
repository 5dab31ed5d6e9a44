"""Errors of the HTTP API: each one a status and a sentence that says what to do.

Every error body is `{"error": "<sentence>"}`, including Starlette's own (an unknown
path, a wrong method) and a crash, whose details stay in the server's log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

REALM = 'Bearer realm="logwarden"'


class ApiError(Exception):
    """Answered as `status` with `message`; raised anywhere a request handler runs."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def not_found(what: str, ident: str) -> ApiError:
    """The same answer whether `ident` does not exist or belongs to a project the token
    may not see: existence does not leak across tenants."""
    return ApiError(404, f"No {what} {ident!r} is visible to this token.")


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


_STARLETTE_SENTENCES = {
    404: "No such endpoint; GET /api/v1/openapi.json lists them.",
    405: "This endpoint does not take that method; GET /api/v1/openapi.json lists them.",
}


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    sentence = _STARLETTE_SENTENCES.get(exc.status_code, f"{exc.detail}.")
    return error_response(exc.status_code, sentence, exc.headers)


async def on_database_away(request: Request, exc: Exception) -> Response:
    log.warning("API request found the database away", extra={
        "path": request.url.path, "error": type(exc).__name__})
    return error_response(503, "The database does not answer; try again in a minute.",
                          {"Retry-After": "30"})


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("API request failed", extra={"path": request.url.path})
    return error_response(500, "The server failed to answer this request; its log says why.")


HANDLERS = {ApiError: on_api_error, HTTPException: on_http_error,
            OperationalError: on_database_away, Exception: on_crash}
