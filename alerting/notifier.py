"""The one shape every delivery channel has, and what a delivery attempt reports.

A channel makes one attempt and says how it went: delivered, failed but worth another try
(perhaps after a given delay), or failed for good. Channels never retry and never raise on
a delivery failure; the outbox stage alone decides when to try again. A failure's reason
is recorded and logged, so it must never carry a channel's secret.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import quote, urlsplit

from alerting.alert import AlertMessage

REDACTED = "<redacted>"
_DETAIL_LIMIT = 300  # characters of a response body kept in a reason


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one delivery attempt went. `retry_after_s` is the receiver's own wish, if any.
    `thread_ref` is what a threading channel returns for an incident's first message (one
    sent with `thread_ref is None`): the outbox hands it back in every later message."""

    ok: bool
    retryable: bool
    reason: str | None = None
    retry_after_s: float | None = None
    thread_ref: str | None = None

    def __post_init__(self) -> None:
        if self.ok and self.retryable:
            raise ValueError("a delivered message has nothing to retry")


def delivered(note: str | None = None, *, thread_ref: str | None = None) -> DeliveryResult:
    """Success; `note` records something worth knowing (a recipient that was refused),
    `thread_ref` where later messages of the incident thread."""
    return DeliveryResult(ok=True, retryable=False, reason=note, thread_ref=thread_ref)


def retry_later(reason: str, retry_after_s: float | None = None) -> DeliveryResult:
    """A recoverable failure: the same message may succeed on a later attempt."""
    return DeliveryResult(ok=False, retryable=True, reason=reason, retry_after_s=retry_after_s)


def give_up(reason: str) -> DeliveryResult:
    """A permanent failure: sending the same message again cannot succeed."""
    return DeliveryResult(ok=False, retryable=False, reason=reason)


class Notifier(Protocol):
    """One delivery channel (Slack, email, console, ...)."""

    name: str

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        """Makes exactly one attempt to deliver `message` and reports the outcome.

        `key` is the same for every attempt at one message (one alert on one channel): a
        channel whose receiver can recognise a repeat hands it on (an email's Message-ID,
        an `Idempotency-Key` header). A channel that threads returns, for a message sent
        with `message.thread_ref is None`, its own reference to it (`thread_ref`: a Slack
        `<channel>:<ts>`, an email's Message-ID); later messages come with it. Never
        retries and never raises on a delivery failure (network errors included); the
        returned reason never contains the channel's secrets. Blocks at most about the
        channel's timeout per network step.
        """
        ...


def classify_http_status(
    status: int, headers: Mapping[str, str] | None = None, body: str = ""
) -> DeliveryResult:
    """Maps an HTTP reply to a result: 2xx delivered; 429 and 5xx retryable (honouring a
    Retry-After given in seconds); anything else permanent. `body` goes into the reason,
    shortened; redact it before recording if the receiver may echo a secret."""
    if 200 <= status < 300:
        return delivered()
    reason = _status_reason(status, body)
    if status == HTTPStatus.TOO_MANY_REQUESTS or 500 <= status < 600:
        return retry_later(reason, parse_retry_after(_header(headers or {}, "Retry-After")))
    return give_up(reason)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After value; None when absent or not a delay in seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare from webhooks, and the backoff still applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (and its URL-encoded form) replaced."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""))}
    # Longest first, so a secret containing another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that grant access: the URL itself, its path and query, the last
    path segment (the token of a Slack webhook) and any password in it."""
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    token = parts.path.rstrip("/").rsplit("/", 1)[-1]
    candidates = (url, path_and_query, parts.query, token, parts.password or "")
    return tuple(c for c in candidates if c and c != "/")


def _status_reason(status: int, body: str) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    detail = " ".join(body.split())
    if len(detail) > _DETAIL_LIMIT:
        detail = detail[: _DETAIL_LIMIT - 1] + "…"
    return f"HTTP {status} {phrase}" + (f": {detail}" if detail else "")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
