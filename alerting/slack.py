"""Slack through an incoming webhook: one Block Kit message per incident message.

A webhook cannot edit or thread (it returns no message `ts`), so a later message of an
incident is a new message that names the incident it is about. The webhook URL is the
secret (whoever holds it can post to the channel): it never appears in a reason.
"""

from __future__ import annotations

import dataclasses
import logging
from http.client import HTTPException
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
from alerting.slack_blocks import fallback_text, slack_blocks


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
            logger=quiet_sdk_logger(),
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


def quiet_sdk_logger() -> logging.Logger:
    """A logger for slack_sdk that stays silent: it logs the webhook URL with every request
    at debug level, and some failures with the URL at error level; our redacted reasons
    are what gets recorded instead."""
    logger = logging.getLogger(f"{__name__}.sdk")
    logger.setLevel(logging.CRITICAL)
    return logger
