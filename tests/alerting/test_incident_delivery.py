"""An incident's life through the outbox to the real wire: one Slack message edited in
place with its updates in the thread (bot token), one email thread, on SQLite and Postgres.
The thread reference each receiver returns is stored and comes back with later messages."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta

import pytest

from alerting.email import EmailNotifier
from alerting.notifier import Notifier
from alerting.outbox import DeliveryPolicy, deliver_due
from alerting.slack_bot import SlackBotNotifier
from pipeline.anomaly import AnomalySeverity
from pipeline.storage import Store, make_engine
from tests.alerting.conftest import SmtpStandIn
from tests.alerting.slack_api import BOT_TOKEN, CHANNEL_ID, SlackApiStandIn
from tests.pipeline.test_storage import T0, make_anomaly, record

RECEIVERS = ("slack:oncall", "email:sre")
POLICY = DeliveryPolicy(lease=timedelta(seconds=30))


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url))
    yield store
    store.close()


def deliver_all(store: Store, notifiers: dict[str, Notifier]) -> int:
    sent = 0
    for _ in range(10):  # later messages wait until the earlier ones are settled
        report = deliver_due(store, notifiers, policy=POLICY)
        sent += report.sent
        if report.sent == report.retrying == report.failed == 0:
            return sent
    return sent


def test_an_incident_is_one_slack_thread_and_one_email_thread(
    store: Store, slack_api: SlackApiStandIn, smtp: SmtpStandIn
) -> None:
    notifiers: dict[str, Notifier] = {
        "slack:oncall": SlackBotNotifier(BOT_TOKEN, CHANNEL_ID, 5.0, base_url=slack_api.base_url,
                                         name="slack:oncall"),
        "email:sre": EmailNotifier("127.0.0.1", smtp.port, "lw@example.test",
                                   ["sre@example.test"], timeout_s=5, name="email:sre"),
    }
    [incident_id] = record(store, "b1", [make_anomaly("b1")], channels=RECEIVERS).new_alert_ids
    assert deliver_all(store, notifiers) == 2
    grown = make_anomaly("b2", "crash_loop", start_ns=T0 + 60 * 10**9,
                         severity=AnomalySeverity.CRITICAL)
    record(store, "b2", [grown], channels=RECEIVERS, start_ns=T0 + 60 * 10**9)
    assert deliver_all(store, notifiers) == 2
    store.incidents.resolve(incident_id, by="ana")
    assert deliver_all(store, notifiers) == 2

    [page] = slack_api.top_level()
    assert page.edits == 2 and ":white_check_mark: [RESOLVED]" in page.blocks[0]["text"]["text"]
    replies = [r.blocks[0]["text"]["text"] for r in slack_api.replies_to(page.ts)]
    assert [r.split("] ", 1)[1] for r in replies] == [
        "checkout: crash loop +1 more (updated)", "checkout: crash loop +1 more (resolved)"]

    mails = [email.message_from_bytes(raw, policy=email.policy.default)
             for _, _, raw in smtp.recorder.received]
    first, *later = mails
    assert first["Subject"] == "[WARNING] checkout: http 5xx" and first["In-Reply-To"] is None
    assert [m["Subject"] for m in later] == ["Re: [WARNING] checkout: http 5xx"] * 2
    assert [m.get_body(("plain",)).get_content().splitlines()[0] for m in later] == [
        "Re: [CRITICAL] checkout: crash loop +1 more (updated)",
        "Re: [CRITICAL] checkout: crash loop +1 more (resolved)"]
    assert all(m["In-Reply-To"] == first["Message-ID"] == m["References"] for m in later)
