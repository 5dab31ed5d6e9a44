"""Reading a request: query parameters checked against what an endpoint takes, page
cursors, and JSON bodies. Every mistake is an ApiError 400 naming the parameter."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import QueryParams

from pipeline.storage.pages import PageKey
from workers.api.errors import ApiError
from workers.timespec import since_ns

DURATION = re.compile(r"(\d{1,9})([smhdw])")
DURATION_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_DURATION_S = 366 * 86_400
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_BODY_BYTES = 65_536
MAX_TEXT_CHARS = 200  # a name, a time, a label: well inside every column that keeps one
MAX_COMMENT_CHARS = 2000


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


class Body:
    """A JSON body's fields, limited to those `allowed`."""

    def __init__(self, body: dict[str, Any], allowed: Collection[str]) -> None:
        for name in body:
            if name not in allowed:
                takes = ", ".join(sorted(allowed)) or "no fields"
                raise ApiError(400, f"Unknown field {name!r}; this endpoint takes {takes}.")
        self._body = body

    def raw(self, name: str) -> Any:
        return self._body.get(name)

    def text(self, name: str, *, required: bool = False,
             max_chars: int = MAX_TEXT_CHARS) -> str | None:
        value = self._body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            demand = "is required, as" if value is None else "must be"
            raise ApiError(400, f"{name!r} {demand} a non-empty string.")
        if len(value) > max_chars:
            raise ApiError(400, f"{name!r} may be at most {max_chars} characters.")
        return value

    def choice(self, name: str, choices: Collection[str]) -> str:
        """A required field, one of `choices`."""
        value = self.text(name, required=True)
        if value is None or value not in choices:
            raise ApiError(400, f"{name!r} must be one of {', '.join(sorted(choices))}.")
        return value

    def flag(self, name: str, *, default: bool) -> bool:
        value = self._body.get(name, default)
        if not isinstance(value, bool):
            raise ApiError(400, f"{name!r} must be true or false.")
        return value

    def duration_s(self, name: str) -> int | None:
        """`30m`, `2h`, `7d`, `1w` as seconds."""
        value = self.text(name)
        if value is None:
            return None
        match = DURATION.fullmatch(value.strip())
        if match is None or int(match[1]) == 0:
            raise ApiError(400, f"{name!r} must be a duration like 30m, 2h or 7d.")
        seconds = int(match[1]) * DURATION_UNIT_S[match[2]]
        if seconds > MAX_DURATION_S:
            raise ApiError(400, f"{name!r} may be at most 366d.")
        return seconds

    def time(self, name: str) -> datetime | None:
        """An RFC 3339 time (UTC when it names no zone)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):
            raise ApiError(400, f"{name!r} must be an RFC 3339 time, e.g. "
                                "2026-11-02T10:00:00Z.") from None
        if not EARLIEST <= moment <= LATEST:
            raise ApiError(400, f"{name!r} must lie between 1970 and 2200.")
        return moment


def encode_cursor(key: PageKey | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key.ns, key.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> PageKey:
    """The key a `next_cursor` holds. It is opaque to clients, not secret: one they
    forge only moves where a page starts, never the projects it is drawn from."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        ns, ident = json.loads(raw)
        if type(ns) is int and 0 <= ns < 2**63 and isinstance(ident, str) and len(ident) <= 64:
            return PageKey(ns, ident)
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
