"""Slack through an incoming webhook: one Block Kit message per alert.

The webhook URL is the secret (whoever holds it can post to the channel): it never appears
in a reason. Log text is untrusted, so every mrkdwn string is escaped; otherwise a log
line holding `<!channel>` would notify a whole channel.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient

from alerting.alert import AlertMessage
from alerting.notifier import (
    DeliveryResult,
    classify_http_status,
    give_up,
    redact,
    retry_later,
    url_secrets,
)
from alerting.render import facts, headline, shorten

# Block Kit limits, in characters.
HEADER_LIMIT = 150
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
CONTEXT_ELEMENT_LIMIT = 10

_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}


class SlackNotifier:
    """Posts alerts to one Slack incoming webhook; one attempt per `send`."""

    def __init__(self, webhook_url: str, timeout_s: float = 10.0, *, name: str = "slack") -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the Slack webhook URL must be an http(s) URL with a host")
        self.name = name
        self._secrets = url_secrets(webhook_url)
        # No retry handlers: retrying belongs to the outbox stage alone.
        self._client = WebhookClient(
            webhook_url,
            timeout=timeout_s,  # type: ignore[arg-type]  # annotated int, handed to urlopen
            logger=_quiet_sdk_logger(),
            retry_handlers=[],
        )

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        # Slack's webhooks ignore the key; a relay or Slack-compatible receiver can use it.
        headers = {"Idempotency-Key": key} if key else None
        try:
            response = self._client.send(
                text=fallback_text(message), blocks=slack_blocks(message), headers=headers
            )
        except SlackRequestError as error:
            return give_up(self._redact(f"slack webhook rejected before sending: {error}"))
        except (OSError, HTTPException) as error:
            return retry_later(self._redact(f"slack webhook unreachable: {error}"))
        headers = {str(key): str(value) for key, value in (response.headers or {}).items()}
        result = classify_http_status(response.status_code, headers, response.body or "")
        return dataclasses.replace(result, reason=self._redact(result.reason or "") or None)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def slack_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    """Header (severity emoji and headline), section (summary and facts), context (details)."""
    emoji = ":mag:" if message.follow_up else _SEVERITY_EMOJI.get(str(message.severity), ":bell:")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": shorten(f"{emoji} {headline(message)}", HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": _mrkdwn(message.summary or headline(message), SECTION_TEXT_LIMIT),
            "fields": [
                _mrkdwn(f"*{label}*\n{escape_mrkdwn(value)}", FIELD_TEXT_LIMIT, escaped=True)
                for label, value in facts(message)
            ],
        },
    ]
    if message.details:
        blocks.append({"type": "context", "elements": _detail_elements(message.details)})
    return blocks


def fallback_text(message: AlertMessage) -> str:
    """What notifications and clients without Block Kit show."""
    return fit_mrkdwn(f"{headline(message)}: {message.summary}", SECTION_TEXT_LIMIT)


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_mrkdwn(text: str, limit: int, *, escaped: bool = False) -> str:
    """`text` escaped and cut to `limit` characters, never inside an `&…;` entity."""
    text = text if escaped else escape_mrkdwn(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _mrkdwn(text: str, limit: int, *, escaped: bool = False) -> dict[str, str]:
    return {"type": "mrkdwn", "text": fit_mrkdwn(text, limit, escaped=escaped)}


def _detail_elements(details: Sequence[str]) -> list[dict[str, str]]:
    if len(details) <= CONTEXT_ELEMENT_LIMIT:
        return [_mrkdwn(line, FIELD_TEXT_LIMIT) for line in details]
    shown = CONTEXT_ELEMENT_LIMIT - 1
    more = _mrkdwn(f"… and {len(details) - shown} more", FIELD_TEXT_LIMIT)
    return [_mrkdwn(line, FIELD_TEXT_LIMIT) for line in details[:shown]] + [more]


def _quiet_sdk_logger() -> logging.Logger:
    # slack_sdk logs the webhook URL with every request at debug level, and some failures
    # with the URL at error level; our redacted reasons are what gets recorded instead.
    logger = logging.getLogger(f"{__name__}.sdk")
    logger.setLevel(logging.CRITICAL)
    return logger
