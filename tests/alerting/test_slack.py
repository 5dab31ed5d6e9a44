from __future__ import annotations

import json
import time

import pytest

from alerting.notifier import DeliveryResult
from alerting.slack import SlackNotifier, fallback_text, fit_mrkdwn, slack_blocks
from tests.alerting.conftest import WEBHOOK_TOKEN, WebhookReply, WebhookStandIn
from tests.alerting.factory import DETAILS, alert_message, as_outbox_payload


def test_webhook_receives_blocks_and_fallback_text(webhook: WebhookStandIn) -> None:
    message = alert_message()
    assert SlackNotifier(webhook.url(), 2.0).send(message) == DeliveryResult(True, False)
    [request] = webhook.requests
    assert request.path == f"/services/T0001/B0002/{WEBHOOK_TOKEN}"
    assert request.content_type.startswith("application/json")
    payload = request.payload
    assert payload["text"] == "[CRITICAL] checkout: error burst: " + message.summary
    header, section, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: [CRITICAL] checkout: error burst",
            "emoji": True,
        },
    }
    assert section["text"] == {"type": "mrkdwn", "text": message.summary}
    assert [field["text"] for field in section["fields"]] == [
        "*Stream*\nacme-prod/k8s_container/checkout",
        "*Type*\nerror_burst",
        "*First seen*\n2026-11-03T09:14:00Z",
        "*Count*\n3",
    ]
    assert context["type"] == "context"
    assert [element["text"] for element in context["elements"]] == list(DETAILS)


def test_severity_picks_the_emoji_and_outbox_messages_render(webhook: WebhookStandIn) -> None:
    message = as_outbox_payload(alert_message(severity="warning", details=()))
    assert SlackNotifier(webhook.url(), 2.0).send(message).ok
    blocks = webhook.requests[0].payload["blocks"]
    assert blocks[0]["text"]["text"].startswith(":warning: [WARNING]")
    assert [block["type"] for block in blocks] == ["header", "section"]  # no empty context


def test_block_kit_limits_are_respected() -> None:
    message = alert_message(
        stream="acme-prod/k8s_container/" + "s" * 400,
        summary="word " * 2000,
        details=tuple(f"detail {i}: " + "d" * 3000 for i in range(25)),
    )
    header, section, context = slack_blocks(message)
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert all(len(field["text"]) <= 2000 for field in section["fields"])
    elements = context["elements"]
    assert len(elements) == 10 and elements[-1]["text"] == "… and 16 more"
    assert all(len(element["text"]) <= 2000 for element in elements)
    assert len(fallback_text(message)) <= 3000


def test_log_text_cannot_mention_anyone(webhook: WebhookStandIn) -> None:
    hostile = "payment failed <!channel> <@U024BE7LH> & <https://evil.example|click>"
    SlackNotifier(webhook.url(), 2.0).send(alert_message(summary=hostile, details=(hostile,)))
    raw = json.dumps(webhook.requests[0].payload)
    assert "<!channel>" not in raw and "<@U024BE7LH>" not in raw and "<https" not in raw
    section = webhook.requests[0].payload["blocks"][1]
    assert section["text"]["text"].startswith("payment failed &lt;!channel&gt; &lt;@U024BE7LH&gt;")


def test_cutting_never_splits_an_escape() -> None:
    cut = fit_mrkdwn("a" * 2998 + "<<", 3000)
    assert cut == "a" * 2998 + "…"


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after_s", "in_reason"),
    [
        (WebhookReply(429, "rate_limited", {"Retry-After": "7"}), True, 7.0, "429"),
        (WebhookReply(500, "internal_error"), True, None, "internal_error"),
        (WebhookReply(503, "busy", {"Retry-After": "2"}), True, 2.0, "503"),
        (WebhookReply(404, "no_service"), False, None, "no_service"),
        (WebhookReply(403, "invalid_token"), False, None, "403"),
        (WebhookReply(400, "invalid_blocks"), False, None, "invalid_blocks"),
        (WebhookReply(410, "channel_is_archived"), False, None, "channel_is_archived"),
    ],
)
def test_failures_map_to_results_after_exactly_one_request(
    webhook: WebhookStandIn,
    reply: WebhookReply,
    retryable: bool,
    retry_after_s: float | None,
    in_reason: str,
) -> None:
    webhook.replies.append(reply)
    result = SlackNotifier(webhook.url(), 2.0).send(alert_message())
    assert (result.ok, result.retryable, result.retry_after_s) == (False, retryable, retry_after_s)
    assert result.reason is not None and in_reason in result.reason
    assert len(webhook.requests) == 1  # the SDK did not retry behind our back


def test_closed_port_is_retryable(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/services/T0001/B0002/{WEBHOOK_TOKEN}"
    result = SlackNotifier(url, 2.0).send(alert_message())
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason is not None and "unreachable" in result.reason


def test_silent_receiver_times_out_as_retryable(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/services/T0001/B0002/{WEBHOOK_TOKEN}"
    started = time.monotonic()
    result = SlackNotifier(url, 0.3).send(alert_message())
    assert time.monotonic() - started < 2.0
    assert (result.ok, result.retryable) == (False, True)


@pytest.mark.parametrize("url", ["ftp://hooks.example/x/y/tok", "hooks.example/x/y/tok", ""])
def test_malformed_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ValueError) as error:
        SlackNotifier(url, 1.0)
    assert "tok" not in str(error.value)
