"""The generic JSON webhook over HTTP: the documented body, the Idempotency-Key, the
optional bearer secret, and the receiver's answers classified."""

from __future__ import annotations

import pytest

from alerting.webhook import WebhookNotifier
from tests.alerting.conftest import WebhookReply, WebhookStandIn
from tests.alerting.factory import DETAILS, alert_message

SECRET = "whsec-Do-Not-Print-7781"


def test_the_body_is_the_documented_json(webhook: WebhookStandIn) -> None:
    message = alert_message(kind="update", revision=4, service="checkout",
                            anomaly_types=("error_burst", "new_template"),
                            samples=("ERROR boom",), links=(("Runbook", "https://r.test/x"),),
                            labels=(("team", "payments"),), thread_ref="t-1")
    notifier = WebhookNotifier(webhook.url(), SECRET, 2.0)
    assert notifier.send(message, key="alert-7f3a.webhook:pager.4").ok
    [request] = webhook.requests
    assert request.idempotency_key == "alert-7f3a.webhook:pager.4"
    body = request.payload
    assert {k: body[k] for k in ("version", "incident_id", "kind", "revision", "status")} == {
        "version": "1", "incident_id": "alert-7f3a", "kind": "update", "revision": 4,
        "status": "firing"}
    assert body["severity"] == "critical" and body["service"] == "checkout"
    assert body["anomaly_types"] == ["error_burst", "new_template"]
    assert body["details"] == list(DETAILS) and body["samples"] == ["ERROR boom"]
    assert body["links"] == [{"label": "Runbook", "url": "https://r.test/x"}]
    assert body["labels"] == {"team": "payments"} and body["thread_ref"] == "t-1"


def test_the_bearer_secret_is_sent_and_a_key_made_when_none_is_given(
    webhook: WebhookStandIn,
) -> None:
    WebhookNotifier(webhook.url(), SECRET, 2.0).send(alert_message(kind="resolved", revision=3))
    WebhookNotifier(webhook.url(), None, 2.0).send(alert_message())
    assert [r.authorization for r in webhook.requests] == [f"Bearer {SECRET}", None]
    assert [r.idempotency_key for r in webhook.requests] == ["alert-7f3a.resolved.3",
                                                             "alert-7f3a.firing.1"]
    assert webhook.requests[0].payload["status"] == "resolved"


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after_s"),
    [
        (WebhookReply(429, "slow down", {"Retry-After": "4"}), True, 4.0),
        (WebhookReply(502, "bad gateway"), True, None),
        (WebhookReply(401, f"bad token {SECRET}"), False, None),
        (WebhookReply(404, "no such hook", echo_path=True), False, None),
    ],
)
def test_answers_are_classified_and_reasons_hold_no_secret(
    webhook: WebhookStandIn, reply: WebhookReply, retryable: bool, retry_after_s: float | None,
) -> None:
    webhook.replies.append(reply)
    result = WebhookNotifier(webhook.url(), SECRET, 2.0).send(alert_message())
    assert (result.ok, result.retryable, result.retry_after_s) == (False, retryable, retry_after_s)
    assert result.reason is not None and SECRET not in result.reason
    assert "XoXb9TokenThatMustNotLeak42" not in result.reason


def test_an_unreachable_receiver_is_retryable(closed_port: int) -> None:
    result = WebhookNotifier(f"http://127.0.0.1:{closed_port}/hook", SECRET, 1.0).send(
        alert_message())
    assert (result.ok, result.retryable) == (False, True)
