"""One email thread per incident, through a real SMTP server (aiosmtpd): the first
message's Message-ID comes from the incident, later ones reply to it, and every message
carries a text and an HTML part with the incident's facts, lines, links and actions."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from alerting.alert import AlertMessage
from alerting.email import EmailNotifier
from alerting.email_message import build_email, message_id
from tests.alerting.conftest import SmtpStandIn
from tests.alerting.factory import alert_message

SENDER = "logwarden@example.test"
INCIDENT = alert_message(
    severity="warning", service="checkout", project="acme-prod",
    window_start="2026-11-03T09:14:00Z", window_end="2026-11-03T09:20:00Z",
    samples=("ERROR db timeout <script>x</script> user=<email>",),
    links=(("Logs Explorer", "https://console.cloud.google.com/logs/query;query=x&y=1"),
           ("Runbook", "https://runbooks.acme.test/checkout")),
)


def received(smtp: SmtpStandIn) -> list[EmailMessage]:
    parsed = [email.message_from_bytes(raw, policy=email.policy.default)
              for _, _, raw in smtp.recorder.received]
    assert all(isinstance(mail, EmailMessage) for mail in parsed)
    return parsed  # type: ignore[return-value]


def send(notifier: EmailNotifier, message: AlertMessage) -> str | None:
    result = notifier.send(message, key=f"{message.alert_id}.email:sre.{message.revision}")
    assert result.ok, result.reason
    return result.thread_ref


def test_an_incident_is_one_email_thread(smtp: SmtpStandIn) -> None:
    notifier = EmailNotifier("127.0.0.1", smtp.port, SENDER, ["sre@example.test"], timeout_s=5)
    thread_ref = send(notifier, INCIDENT)
    grew = alert_message(kind="update", revision=2, severity="critical", anomaly_count=8,
                         thread_ref=thread_ref)
    done = alert_message(kind="resolved", revision=3, resolved_at="2026-11-03T09:40:00Z",
                         thread_ref=thread_ref)
    assert send(notifier, grew) is None and send(notifier, done) is None

    first, update, resolved = received(smtp)
    assert thread_ref == f"{first['Message-ID']} [WARNING] checkout: error burst"
    assert first["Subject"] == "[WARNING] checkout: error burst"
    assert first["In-Reply-To"] is None and first["References"] is None
    # The subject stays the thread's (a changed one starts a new Gmail conversation);
    # the body's first line says what the incident is now.
    for later, now in ((update, "[CRITICAL] checkout: error burst (updated)"),
                       (resolved, "[CRITICAL] checkout: error burst (resolved)")):
        assert later["Subject"] == "Re: [WARNING] checkout: error burst"
        assert later["In-Reply-To"] == first["Message-ID"] == later["References"]
        body = later.get_body(("plain",))
        assert body is not None and body.get_content().splitlines()[0] == f"Re: {now}"
    assert len({first["Message-ID"], update["Message-ID"], resolved["Message-ID"]}) == 3


def test_a_thread_reference_without_a_subject_still_threads() -> None:
    reply = build_email(alert_message(kind="update", revision=2, thread_ref="<a.b@example.test>"),
                        SENDER, ["sre@example.test"], key="k.2")
    assert reply["In-Reply-To"] == "<a.b@example.test>"
    assert reply["Subject"] == "Re: [CRITICAL] checkout: error burst (updated)"


def test_the_first_message_id_is_the_incidents_own(smtp: SmtpStandIn) -> None:
    notifier = EmailNotifier("127.0.0.1", smtp.port, SENDER, ["sre@example.test"], timeout_s=5)
    unkeyed = [notifier.send(INCIDENT).thread_ref for _ in range(2)]
    [mail, again] = received(smtp)
    assert mail["Message-ID"] == again["Message-ID"] == message_id("alert-7f3a", "example.test")
    assert unkeyed[0] == unkeyed[1] and unkeyed[0].startswith(mail["Message-ID"])  # type: ignore[union-attr]


def test_both_parts_carry_the_incident(smtp: SmtpStandIn) -> None:
    notifier = EmailNotifier("127.0.0.1", smtp.port, SENDER, ["sre@example.test"], timeout_s=5)
    send(notifier, INCIDENT)
    [mail] = received(smtp)
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain, rich = text.get_content(), html.get_content()
    assert "window: 2026-11-03T09:14:00Z to 2026-11-03T09:20:00Z" in plain
    assert "ERROR db timeout <script>x</script> user=<email>" in plain
    assert "Runbook: https://runbooks.acme.test/checkout" in plain
    assert "Acknowledge: logwarden ack alert-7f3a" in plain
    assert "&lt;script&gt;x&lt;/script&gt;" in rich and "<script>" not in rich
    assert '<a href="https://console.cloud.google.com/logs/query;query=x&amp;y=1">' in rich
    assert "border-left:6px solid #b26a00" in rich  # the warning colour
