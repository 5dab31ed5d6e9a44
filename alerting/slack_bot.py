"""Slack with a bot token: one message per incident, edited in place, later messages in
its thread.

The first message is posted with chat.postMessage; its `<channel>:<ts>` is the thread
reference the outbox hands back with every later message. A later message first edits
the first one to the incident's current state (chat.update: the same edit twice is
harmless, so a retried attempt is safe) and then replies in its thread (thread_ts), last,
because a reply cannot be taken back. The token is the secret and never appears in a reason.

Every post carries its idempotency key in Slack message metadata. A sender that died
after Slack took a message but before the outbox recorded it leaves the message to be
sent again; the next attempt first looks for its key among the channel's (or thread's)
latest messages and, when it is there, reports the message it finds instead of posting
a second one. That needs a channel id (not a #name) and the `channels:history` scope;
without them a repeat may show twice.
"""

from __future__ import annotations

import re
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from alerting.alert import AlertMessage
from alerting.notifier import (
    DeliveryResult,
    classify_http_status,
    delivered,
    give_up,
    parse_retry_after,
    redact,
    retry_later,
)
from alerting.slack import quiet_sdk_logger
from alerting.slack_blocks import SLACK_API_URL, fallback_text, slack_blocks

# Web API errors (HTTP 200, `ok: false`) worth another attempt; every other one is final
# (invalid_auth, channel_not_found, not_in_channel, invalid_blocks, ...).
TRANSIENT_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout",
})
# chat.update errors that leave the thread usable: the reply is still worth posting.
_UNEDITABLE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
METADATA_EVENT = "logwarden_message"
LOOKBACK = 50  # latest messages searched for a repeat's key
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class SlackBotNotifier:
    """Posts to one channel with a bot token; one attempt per `send`: a first message is
    a history read and a post, a later one an edit, a thread read and a reply."""

    def __init__(self, token: str, channel: str, timeout_s: float = 10.0, *,
                 base_url: str = SLACK_API_URL, name: str = "slack") -> None:
        if not token or not channel:
            raise ValueError("a Slack bot receiver needs a token and a channel")
        self.name = name
        self.channel = channel
        self._secrets = (token,)
        # No retry handlers: retrying belongs to the outbox stage alone.
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout_s,  # type: ignore[arg-type]
                                 logger=quiet_sdk_logger(), retry_handlers=[])
        # Off once Slack says the token may not read history: no call wasted on every send.
        self._can_look_back = bool(_CHANNEL_ID.match(channel))

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        key = key or f"{message.alert_id}.{message.kind}.{message.revision}"
        try:
            if message.thread_ref is None:
                return self._post_first(message, key)
            return self._follow(message, message.thread_ref, key)
        except SlackApiError as error:
            return self._redacted(classify_web_api(error.response))
        except SlackRequestError as error:
            return give_up(self._redact(f"slack request refused before sending: {error}"))
        except (OSError, HTTPException) as error:
            return retry_later(self._redact(f"slack API unreachable: {error}"))

    def _post_first(self, message: AlertMessage, key: str) -> DeliveryResult:
        posted = self._posted_before(key, self.channel, None)
        if posted is not None:
            return delivered("already in Slack", thread_ref=f"{self.channel}:{posted}")
        response = self._client.chat_postMessage(
            channel=self.channel, text=fallback_text(message), blocks=slack_blocks(message),
            metadata=_metadata(key))
        return delivered(thread_ref=f"{response['channel']}:{response['ts']}")

    def _posted_before(self, key: str, channel: str, thread_ts: str | None) -> str | None:
        """The ts of a message already posted with `key`, among the latest of the channel
        or thread; None when there is none or the token may not look."""
        if not self._can_look_back:
            return None
        try:
            if thread_ts is None:
                found = self._client.conversations_history(
                    channel=channel, limit=LOOKBACK, include_all_metadata=True)
            else:
                found = self._client.conversations_replies(
                    channel=channel, ts=thread_ts, limit=LOOKBACK, include_all_metadata=True)
        except SlackApiError as error:
            if classify_web_api(error.response).retryable:
                raise
            self._can_look_back = False  # missing_scope, not_in_channel, ...: post anyway
            return None
        return next((str(m["ts"]) for m in found.get("messages") or ()
                     if _key_of(m) == key), None)

    def _follow(self, message: AlertMessage, thread_ref: str, key: str) -> DeliveryResult:
        channel, _, ts = thread_ref.partition(":")
        if not channel or not ts:
            return give_up(f"not a Slack thread reference: {thread_ref!r}")
        note = None
        try:
            self._client.chat_update(channel=channel, ts=ts,
                                     text=fallback_text(message, in_place=True),
                                     blocks=slack_blocks(message, in_place=True))
        except SlackApiError as error:
            if _error_code(error.response) not in _UNEDITABLE:
                raise
            note = f"first message not edited: {_error_code(error.response)}"
        if self._posted_before(key, channel, ts) is not None:
            return delivered("already in Slack")
        self._client.chat_postMessage(channel=channel, thread_ts=ts, text=fallback_text(message),
                                      blocks=slack_blocks(message), metadata=_metadata(key))
        return delivered(note)

    def _redacted(self, result: DeliveryResult) -> DeliveryResult:
        if result.reason is None:
            return result
        return DeliveryResult(result.ok, result.retryable, self._redact(result.reason),
                              result.retry_after_s, result.thread_ref)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def classify_web_api(response: SlackResponse) -> DeliveryResult:
    """A failed Web API call as a result: HTTP 429 and `ratelimited` retry after Slack's
    Retry-After; 5xx and Slack's own transient errors retry; other errors are final."""
    headers = {str(k): str(v) for k, v in (response.headers or {}).items()}
    code = _error_code(response)
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if response.status_code == 429 or code in ("ratelimited", "rate_limited"):
        return retry_later(f"slack rate limited ({code or 'HTTP 429'})", retry_after)
    if response.status_code != 200:
        return classify_http_status(response.status_code, headers, code or "")
    if code in TRANSIENT_ERRORS:
        return retry_later(f"slack error {code}", retry_after)
    return give_up(f"slack refused the message: {code or 'unknown error'}")


def _metadata(key: str) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key}}


def _key_of(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT:
        return None
    return (metadata.get("event_payload") or {}).get("key")


def _error_code(response: SlackResponse) -> str:
    data: Any = response.data
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)
