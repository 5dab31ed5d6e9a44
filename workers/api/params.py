"""Reading a request: query parameters checked against what an endpoint takes, page
cursors, and JSON bodies. Every mistake is an ApiError 400 naming the parameter."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from typing import Any

from starlette.datastructures import QueryParams

from pipeline.storage.anomaly_pages import PageKey
from workers.api.errors import ApiError
from workers.timespec import since_ns

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_BODY_BYTES = 65_536


class Query:
    """The query string of one request, limited to the parameters `allowed`."""

    def __init__(self, params: QueryParams, allowed: Collection[str]) -> None:
        for name in params:
            if name not in allowed:
                takes = ", ".join(sorted(allowed)) or "no parameters"
                raise ApiError(400, f"Unknown query parameter {name!r}; this endpoint takes "
                                    f"{takes}.")
            if len(params.getlist(name)) > 1:
                raise ApiError(400, f"Give the query parameter {name!r} once.")
        self._params = params

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        return value if value else None

    def choice(self, name: str, choices: Collection[str]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            raise ApiError(400, f"{name!r} must be one of {', '.join(sorted(choices))}, "
                                f"not {value!r}.")
        return value

    def time_ns(self, name: str, now_ns: int) -> int | None:
        """A duration back from now (`2h`) or an RFC 3339 time."""
        value = self.text(name)
        if value is None:
            return None
        try:
            return since_ns(value, now_ns)
        except ValueError as exc:
            raise ApiError(400, f"{name!r}: {exc}.") from None

    def limit(self) -> int:
        value = self.text("limit")
        if value is None:
            return DEFAULT_LIMIT
        if not value.isdecimal() or not 1 <= int(value) <= MAX_LIMIT:
            raise ApiError(400, f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
        return int(value)

    def cursor(self) -> PageKey | None:
        value = self.text("cursor")
        return None if value is None else decode_cursor(value)


def encode_cursor(key: PageKey | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key.start_ns, key.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> PageKey:
    """The key a `next_cursor` holds. It is opaque to clients, not secret: one they
    forge only moves where a page starts, never the projects it is drawn from."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        start_ns, ident = json.loads(raw)
        if isinstance(start_ns, int) and isinstance(ident, str):
            return PageKey(start_ns, ident)
    except (binascii.Error, ValueError, TypeError):
        pass
    raise ApiError(400, "'cursor' is not one this API gave out; pass a page's next_cursor "
                        "as it came.")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object (an empty body is `{}`)."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"The body is over {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The body is not JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body
