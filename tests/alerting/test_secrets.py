"""No channel leaks its secret: every failure reason (and log line) is checked for it.

Several stand-ins here are careless on purpose (they quote the URL or password back), so
a reason free of secrets proves redaction, not luck.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from alerting.alertmanager import AlertmanagerNotifier
from alerting.email import EmailNotifier
from alerting.notifier import REDACTED, Notifier
from alerting.slack import SlackNotifier
from alerting.slack_bot import SlackBotNotifier
from alerting.webhook import WebhookNotifier
from tests.alerting.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_TOKEN,
    SmtpStandIn,
    WebhookReply,
    WebhookStandIn,
)
from tests.alerting.factory import alert_message
from tests.alerting.slack_api import BOT_TOKEN, CHANNEL_ID

QUERY_SECRET = "sig=QuErYs3cr3tValue"


@dataclass(frozen=True)
class LeakCase:
    build: Callable[[pytest.FixtureRequest], Notifier]
    secrets: tuple[str, ...]
    echoed: bool  # the stand-in quotes a secret back, so the reason must show REDACTED


def _slack(reply: WebhookReply, query: str = "") -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        webhook: WebhookStandIn = request.getfixturevalue("webhook")
        webhook.replies.append(reply)
        return SlackNotifier(webhook.url() + query, 2.0)

    return build


def _slack_at(port_fixture: str) -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        port = request.getfixturevalue(port_fixture)
        return SlackNotifier(f"http://127.0.0.1:{port}/services/T1/B2/{WEBHOOK_TOKEN}", 0.3)

    return build


def _email(
    port_fixture: str, password: str = SMTP_PASSWORD, data_reply: str | None = None
) -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        stand_in = request.getfixturevalue(port_fixture)
        port = stand_in.port if isinstance(stand_in, SmtpStandIn) else stand_in
        if isinstance(stand_in, SmtpStandIn):
            stand_in.recorder.data_reply = data_reply
        return EmailNotifier(
            "127.0.0.1",
            port,
            "lw@example.test",
            ["a@example.test"],
            username=SMTP_USER,
            password=password,
            timeout_s=0.3,
        )

    return build


BEARER = "whsec-bearer-NeverShown-5521"


def _webhook(reply: WebhookReply) -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        webhook: WebhookStandIn = request.getfixturevalue("webhook")
        webhook.replies.append(reply)
        return WebhookNotifier(webhook.url(), BEARER, 2.0)

    return build


def _alertmanager(reply: WebhookReply) -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        webhook: WebhookStandIn = request.getfixturevalue("webhook")
        webhook.replies.append(reply)
        return AlertmanagerNotifier(webhook.url(), 2.0, secret=BEARER)

    return build


def _slack_bot_at(port_fixture: str) -> Callable[[pytest.FixtureRequest], Notifier]:
    def build(request: pytest.FixtureRequest) -> Notifier:
        port = request.getfixturevalue(port_fixture)
        return SlackBotNotifier(BOT_TOKEN, CHANNEL_ID, 0.3,
                                base_url=f"http://127.0.0.1:{port}/api/")

    return build


CASES = {
    "slack-404-quoting-url": LeakCase(
        _slack(WebhookReply(404, echo_path=True)), (WEBHOOK_TOKEN,), True
    ),
    "slack-500-quoting-url": LeakCase(
        _slack(WebhookReply(500, echo_path=True)), (WEBHOOK_TOKEN,), True
    ),
    "slack-429-quoting-url": LeakCase(
        _slack(WebhookReply(429, headers={"Retry-After": "1"}, echo_path=True)),
        (WEBHOOK_TOKEN,),
        True,
    ),
    "slack-query-secret": LeakCase(
        _slack(WebhookReply(403, echo_path=True), f"?{QUERY_SECRET}"),
        (WEBHOOK_TOKEN, QUERY_SECRET),
        True,
    ),
    "slack-closed-port": LeakCase(_slack_at("closed_port"), (WEBHOOK_TOKEN,), False),
    "slack-timeout": LeakCase(_slack_at("silent_port"), (WEBHOOK_TOKEN,), False),
    "email-password-quoted": LeakCase(
        _email("smtp", password="Wr0ng-but-secret"), ("Wr0ng-but-secret",), True
    ),
    "email-data-refused": LeakCase(
        _email("smtp", data_reply=f"554 nope {SMTP_PASSWORD}"), (SMTP_PASSWORD,), True
    ),
    "email-closed-port": LeakCase(_email("closed_port"), (SMTP_PASSWORD,), False),
    "email-timeout": LeakCase(_email("silent_port"), (SMTP_PASSWORD,), False),
    "email-untrusted-cert": LeakCase(_email("smtp_implicit_tls"), (SMTP_PASSWORD,), False),
    "webhook-401-quoting-bearer": LeakCase(
        _webhook(WebhookReply(401, f"bad token Bearer {BEARER}")), (BEARER,), True
    ),
    "webhook-404-quoting-url": LeakCase(
        _webhook(WebhookReply(404, echo_path=True)), (WEBHOOK_TOKEN, BEARER), True
    ),
    "alertmanager-500-quoting-bearer": LeakCase(
        _alertmanager(WebhookReply(500, f"auth {BEARER} rejected")), (BEARER,), True
    ),
    "slack-bot-closed-port": LeakCase(_slack_bot_at("closed_port"), (BOT_TOKEN,), False),
    "slack-bot-timeout": LeakCase(_slack_bot_at("silent_port"), (BOT_TOKEN,), False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_failure_reasons_and_logs_hold_no_secret(
    case: LeakCase, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = case.build(request).send(alert_message())
    assert not result.ok and result.reason
    # The SMTP stand-in logs what it is sent; only the client side is under test.
    client_logs = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for secret in case.secrets:
        assert secret not in result.reason
        assert secret not in repr(result)
        assert secret not in client_logs
    assert (REDACTED in result.reason) == case.echoed
