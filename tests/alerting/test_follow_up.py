"""A review that comes after the page: a reply in the alert's thread, not a second page."""

from __future__ import annotations

from alerting.email_message import build_email, message_id
from alerting.render import plain_text
from alerting.slack_blocks import slack_blocks
from tests.alerting.factory import alert_message

REVIEW = "flash confirmed: anomaly (90% confident). Checkout cannot reach its database."


def test_an_email_follow_up_replies_in_the_alerts_thread() -> None:
    page = build_email(alert_message(review="not reviewed"), "lw@acme.test", ["oncall@acme.test"],
                       key="alert-7f3a.email")
    follow_up = build_email(alert_message(review=REVIEW, kind="review"), "lw@acme.test",
                            ["oncall@acme.test"], key="alert-7f3a.email.review")
    assert follow_up["In-Reply-To"] == page["Message-ID"] == message_id("alert-7f3a.email",
                                                                          "acme.test")
    assert follow_up["References"] == page["Message-ID"]
    assert follow_up["Message-ID"] != page["Message-ID"]
    assert follow_up["Subject"] == "Re: " + page["Subject"]
    assert page["In-Reply-To"] is None


def test_the_review_is_a_fact_of_the_message_and_a_follow_up_raises_no_alarm() -> None:
    assert "  review: not reviewed" in plain_text(alert_message(review="not reviewed"))
    header = slack_blocks(alert_message(review=REVIEW, kind="review"))[0]["text"]["text"]
    assert header.startswith(":mag: Re: [CRITICAL]")
    fields = slack_blocks(alert_message(review=REVIEW))[1]["fields"]
    assert any(REVIEW in f["text"] for f in fields)
