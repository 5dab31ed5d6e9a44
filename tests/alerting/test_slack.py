from __future__ import annotations

import json
import time

import pytest

from alerting.notifier import DeliveryResult
from alerting.slack import SlackNotifier
from alerting.slack_blocks import fallback_text, fit_mrkdwn, slack_blocks
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
    header, section, why, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":red_circle: [CRITICAL] checkout: error burst",
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
    assert why["text"]["text"] == "*Why*\n" + "\n".join(f"• {line}" for line in DETAILS)
    assert context["type"] == "context"
    assert [element["text"] for element in context["elements"]] == [
        "Incident `alert-7f3a`",
        "Acknowledge: `logwarden ack alert-7f3a`",
        "Silence: `logwarden silence add service=checkout`",
    ]


def test_commands_show_as_code_so_mrkdwn_leaves_them_alone() -> None:
    steps = ("logwarden silence add service=my_svc_name --comment '*deploy*'",
             "curl -X POST -H 'Authorization: Bearer <token>' https://lw.test/api/v1/ack",
             "Call the payments on-call if it lasts")
    elements = slack_blocks(alert_message(actions=steps))[-1]["elements"][1:]
    assert [e["text"] for e in elements] == [
        "`logwarden silence add service=my_svc_name --comment '*deploy*'`",
        "`curl -X POST -H 'Authorization: Bearer &lt;token&gt;' https://lw.test/api/v1/ack`",
        "Call the payments on-call if it lasts",
    ]


def test_an_incident_shows_its_window_samples_links_and_actions() -> None:
    message = alert_message(
        service="checkout", project="acme-prod", anomaly_types=("error_burst", "new_template"),
        window_start="2026-11-03T09:14:00Z", window_end="2026-11-03T09:31:00Z",
        samples=("ERROR db timeout after 30s user=<email>", "ERROR ``` pool exhausted",
                 "WARN retry 3/5", "a fourth line is never shown"),
        links=(("Logs Explorer", "https://console.cloud.google.com/logs/query;query=a|b&x=<y>"),
               ("Runbook", "https://runbooks.acme.test/checkout"),
               ("Bad", "javascript:alert(1)")),
        actions=("Acknowledge: POST /api/incidents/alert-7f3a/ack",),
    )
    blocks = slack_blocks(message)
    assert blocks[0]["text"]["text"] == ":red_circle: [CRITICAL] checkout: error burst +1 more"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[1]["fields"]}
    assert fields["*Window*"] == "2026-11-03T09:14:00Z to 2026-11-03T09:31:00Z"
    assert fields["*Type*"] == "error_burst, new_template" and fields["*Service*"] == "checkout"
    samples = blocks[3]["text"]["text"]
    assert samples.startswith("*Sample lines*\n```ERROR db timeout after 30s user=&lt;email&gt;")
    assert samples.count("```") == 2 and "fourth" not in samples  # one block, three lines
    links = blocks[4]["text"]["text"]
    assert links == ("<https://console.cloud.google.com/logs/query;query=a%7Cb&amp;x=%3Cy%3E"
                     "|Logs Explorer> · <https://runbooks.acme.test/checkout|Runbook>")
    assert blocks[5]["elements"][1]["text"] == "Acknowledge: POST /api/incidents/alert-7f3a/ack"


def test_a_webhook_update_is_a_new_message_naming_its_incident(webhook: WebhookStandIn) -> None:
    update = alert_message(kind="update", revision=2, anomaly_count=9)
    assert SlackNotifier(webhook.url(), 2.0).send(update).ok
    payload = webhook.requests[0].payload
    assert payload["text"].startswith("Re: [CRITICAL] checkout: error burst (updated) "
                                      "(incident alert-7f3a):")
    context = payload["blocks"][-1]["elements"][0]["text"]
    assert context == "Incident `alert-7f3a` · message 2 · first seen 2026-11-03T09:14:00Z"


def test_severity_picks_the_emoji_and_outbox_messages_render(webhook: WebhookStandIn) -> None:
    message = as_outbox_payload(alert_message(severity="warning", details=()))
    assert SlackNotifier(webhook.url(), 2.0).send(message).ok
    blocks = webhook.requests[0].payload["blocks"]
    assert blocks[0]["text"]["text"].startswith(":large_orange_circle: [WARNING]")
    assert [block["type"] for block in blocks] == ["header", "section", "context"]


def test_block_kit_limits_are_respected() -> None:
    message = alert_message(
        stream="acme-prod/k8s_container/" + "s" * 400,
        summary="word " * 2000,
        details=tuple(f"detail {i}: " + "d" * 3000 for i in range(25)),
        samples=tuple("x" * 5000 for _ in range(3)),
        actions=tuple(f"step {i}" for i in range(20)),
    )
    header, section, why, samples, context = slack_blocks(message)
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert all(len(field["text"]) <= 2000 for field in section["fields"])
    assert len(why["text"]["text"]) <= 3000 and len(samples["text"]["text"]) <= 3000
    assert samples["text"]["text"].endswith("```")
    assert len(context["elements"]) == 10
    assert len(fallback_text(message)) <= 3000


def test_log_text_cannot_mention_anyone(webhook: WebhookStandIn) -> None:
    hostile = "payment failed <!channel> <@U024BE7LH> & <https://evil.example|click>"
    SlackNotifier(webhook.url(), 2.0).send(alert_message(summary=hostile, details=(hostile,)))
    raw = json.dumps(webhook.requests[0].payload)
    assert "<!channel>" not in raw and "<@U024BE7LH>" not in raw and "<https" not in raw
    section = webhook.requests[0].payload["blocks"][1]
    assert section["text"]["text"].startswith("payment failed &lt;!channel&gt; &lt;@U024BE7LH&gt;")


def test_sample_lines_and_actions_cannot_mention_anyone_either() -> None:
    hostile = "boom <!here> <!subteam^S1> & <@U1>"
    blocks = slack_blocks(alert_message(samples=(hostile,), actions=(hostile,)))
    raw = json.dumps(blocks)
    assert "<!here>" not in raw and "<!subteam" not in raw and "<@U1>" not in raw
    assert "boom &lt;!here&gt;" in blocks[3]["text"]["text"]


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


def test_an_acknowledged_incident_says_who_took_it() -> None:
    message = alert_message(kind="acknowledged", revision=2,
                            labels=(("state", "acknowledged"), ("acknowledged_by", "ana")))
    blocks = slack_blocks(message, in_place=True)
    assert blocks[0]["text"]["text"] == (
        ":eyes: [CRITICAL] checkout: error burst — acknowledged")
    assert "*Acknowledged by*\nana" in [f["text"] for f in blocks[1]["fields"]]
    assert [e["text"] for e in blocks[-1]["elements"]] == [
        "Incident `alert-7f3a` · message 2 · first seen 2026-11-03T09:14:00Z"]  # no ack hint
