"""One JSON POST over HTTP, answered with its status, headers and body, whatever they are.

urllib raises for a non-2xx reply; the channels want the reply itself, to classify it.
Network failures (refused, reset, timed out) still raise OSError.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.client import HTTPException

from alerting.notifier import DeliveryResult, classify_http_status, redact, retry_later

_BODY_LIMIT = 4096  # bytes of a reply read for its reason


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: str


def post_json(url: str, body: object, headers: Mapping[str, str], timeout_s: float) -> HttpReply:
    """POSTs `body` as JSON; any reply is returned, network failures raise OSError."""
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "Logwarden", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return _reply(response.status, response.headers.items(), response.read(_BODY_LIMIT))
    except urllib.error.HTTPError as error:
        with error:
            return _reply(error.code, error.headers.items(), error.read(_BODY_LIMIT))


def deliver_json(url: str, body: object, headers: Mapping[str, str], timeout_s: float,
                 secrets: tuple[str, ...], what: str) -> DeliveryResult:
    """One POST, classified (2xx delivered; 429 and 5xx retry; other 4xx final), its
    reason free of `secrets`."""
    try:
        reply = post_json(url, body, headers, timeout_s)
    except (OSError, HTTPException) as error:
        return retry_later(redact(f"{what} unreachable: {error}", secrets))
    result = classify_http_status(reply.status, reply.headers, reply.body)
    if result.reason is None:
        return result
    return DeliveryResult(result.ok, result.retryable, redact(result.reason, secrets),
                          result.retry_after_s)


def _reply(status: int, headers: Iterable[tuple[str, str]], raw: bytes) -> HttpReply:
    return HttpReply(status, {str(k): str(v) for k, v in headers},
                     raw.decode("utf-8", "replace"))
