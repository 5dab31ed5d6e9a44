from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from alerting.email import EmailNotifier
from tests.alerting.conftest import SMTP_PASSWORD, SMTP_USER, SmtpStandIn
from tests.alerting.factory import DETAILS, alert_message
from tests.alerting.tls import TlsFiles

SENDER = "logwarden@example.test"
RECIPIENTS = ("oncall@example.test", "sre@example.test")


def notifier(port: int, **options: Any) -> EmailNotifier:
    return EmailNotifier("127.0.0.1", port, SENDER, RECIPIENTS, timeout_s=2, **options)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_server_receives_a_multipart_alert(smtp: SmtpStandIn) -> None:
    message = alert_message(summary="5xx <b>spike</b> & timeouts")
    result = notifier(smtp.port).send(message)
    assert result.ok and result.reason is None
    [(mail_from, rcpt_tos, raw)] = smtp.recorder.received
    assert (mail_from, rcpt_tos) == (SENDER, list(RECIPIENTS))
    mail = parsed(raw)
    assert mail["Subject"] == "[CRITICAL] checkout: error burst"
    assert mail["To"] == "oncall@example.test, sre@example.test"
    assert mail["X-Logwarden-Alert-Id"] == "alert-7f3a"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "5xx <b>spike</b> & timeouts" in plain and all(d in plain for d in DETAILS)
    markup = html.get_content()
    assert "5xx &lt;b&gt;spike&lt;/b&gt; &amp; timeouts" in markup
    assert "acme-prod/k8s_container/checkout" in markup and "<li>" in markup


def test_login_with_the_right_password(smtp: SmtpStandIn) -> None:
    sender = notifier(smtp.port, username=SMTP_USER, password=SMTP_PASSWORD)
    assert sender.send(alert_message()).ok
    assert len(smtp.recorder.received) == 1


def test_wrong_password_is_permanent(smtp: SmtpStandIn) -> None:
    result = notifier(smtp.port, username=SMTP_USER, password="not-it").send(alert_message())
    assert (result.ok, result.retryable) == (False, False)
    assert result.reason is not None and "535" in result.reason
    assert smtp.recorder.received == []


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("451 4.3.0 try again later", True), ("554 5.7.1 message rejected as spam", False)],
)
def test_data_reply_decides_retry(smtp: SmtpStandIn, reply: str, retryable: bool) -> None:
    smtp.recorder.data_reply = reply
    result = notifier(smtp.port).send(alert_message())
    assert (result.ok, result.retryable) == (False, retryable)
    assert result.reason is not None and reply.split()[0] in result.reason


@pytest.mark.parametrize(
    ("code", "retryable"), [("450 4.2.1 mailbox busy", True), ("550 5.1.1 no such user", False)]
)
def test_every_recipient_refused(smtp: SmtpStandIn, code: str, retryable: bool) -> None:
    smtp.recorder.refused_recipients = dict.fromkeys(RECIPIENTS, code)
    result = notifier(smtp.port).send(alert_message())
    assert (result.ok, result.retryable) == (False, retryable)
    assert result.reason is not None and "oncall@example.test" in result.reason


def test_one_refused_recipient_is_noted_not_retried(smtp: SmtpStandIn) -> None:
    smtp.recorder.refused_recipients = {"sre@example.test": "550 5.1.1 no such user"}
    result = notifier(smtp.port).send(alert_message())
    assert result.ok and not result.retryable  # a retry would mail oncall twice
    assert result.reason is not None and "sre@example.test (550" in result.reason
    assert smtp.recorder.received[0][1] == ["oncall@example.test"]


def test_closed_port_is_retryable(closed_port: int) -> None:
    result = notifier(closed_port).send(alert_message())
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason is not None and "unreachable" in result.reason


def test_silent_server_times_out_as_retryable(silent_port: int) -> None:
    result = EmailNotifier("127.0.0.1", silent_port, SENDER, RECIPIENTS, timeout_s=0.3).send(
        alert_message()
    )
    assert (result.ok, result.retryable) == (False, True)


def test_starttls_then_login(smtp_starttls: SmtpStandIn, tls_files: TlsFiles) -> None:
    # This server refuses AUTH and MAIL before STARTTLS (next test): success means TLS.
    sender = notifier(
        smtp_starttls.port,
        starttls=True,
        tls_context=tls_files.client_context(),
        username=SMTP_USER,
        password=SMTP_PASSWORD,
    )
    assert sender.send(alert_message()).ok
    assert len(smtp_starttls.recorder.received) == 1


def test_server_demanding_starttls_refuses_plain_mail(smtp_starttls: SmtpStandIn) -> None:
    result = notifier(smtp_starttls.port).send(alert_message())
    assert (result.ok, result.retryable) == (False, False)
    assert result.reason is not None and "530" in result.reason


def test_starttls_unsupported_is_permanent(smtp: SmtpStandIn) -> None:
    result = notifier(smtp.port, starttls=True).send(alert_message())
    assert (result.ok, result.retryable) == (False, False)


def test_implicit_tls(smtp_implicit_tls: SmtpStandIn, tls_files: TlsFiles) -> None:
    sender = notifier(smtp_implicit_tls.port, ssl=True, tls_context=tls_files.client_context())
    assert sender.send(alert_message()).ok
    assert len(smtp_implicit_tls.recorder.received) == 1


def test_untrusted_certificate_is_permanent(smtp_implicit_tls: SmtpStandIn) -> None:
    result = notifier(smtp_implicit_tls.port, ssl=True).send(alert_message())
    assert (result.ok, result.retryable) == (False, False)
    assert result.reason is not None and "certificate" in result.reason.lower()


@pytest.mark.parametrize(
    "options",
    [{"ssl": True, "starttls": True}, {"username": "u"}],
)
def test_contradictory_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        notifier(25, **options)


def test_needs_a_recipient() -> None:
    with pytest.raises(ValueError):
        EmailNotifier("127.0.0.1", 25, SENDER, [])
