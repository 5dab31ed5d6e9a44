"""Sending runs on workers of its own: a slow receiver never holds up detection, each
alert reaches it once, and a sender killed mid-send leaves nothing unsettled. Real
`logwarden worker` processes, a Slack-like receiver that answers after seconds."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from tests.alerting.conftest import WebhookReply, WebhookStandIn
from tests.integration.cli_processes import CliWorker
from tests.integration.fleet import FleetConfig, ledger, query, wait_until
from workers.tasks import batch_sender

pytestmark = pytest.mark.integration

SLACK_DELAY_S = 5.0
ALERTING_STREAMS = 3
QUIET_BATCHES = 20


@pytest.fixture
def slow_slack() -> Iterator[WebhookStandIn]:
    receiver = WebhookStandIn()
    receiver.default = WebhookReply(delay_s=SLACK_DELAY_S)
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def entries(service: str, text: str, count: int, severity: Severity) -> tuple[LogEntry, ...]:
    now = time.time_ns()
    return tuple(
        LogEntry(insert_id=uuid.uuid4().hex, timestamp_ns=now + i * 1_000_000,
                 severity=severity, message=f"{text} #{i}", project="acme-prod",
                 service=service, resource_type="k8s_container", size=80)
        for i in range(count)
    )


def batch(service: str, text: str, severity: Severity = Severity.INFO) -> Batch:
    return Batch(StreamKey("acme-prod", "k8s_container", service),
                 entries(service, text, 20, severity))


def test_a_slow_receiver_gets_each_alert_once_and_detection_goes_on(
    fleet: FleetConfig, slow_slack: WebhookStandIn
) -> None:
    env = {**fleet.env(), "LOGWARDEN_CHANNELS": '["slack"]'}
    sender_env = {**env, "LOGWARDEN_SLACK_WEBHOOK_URL": slow_slack.url()}
    app = fleet.app()
    # The detecting worker knows no webhook: only the notifier holds channel secrets.
    workers = [CliWorker(fleet, "detect", [], env),
               CliWorker(fleet, "notify", ["--queues", "notify"], sender_env)]
    try:
        for worker in workers:
            worker.wait_ready(app, timeout=90)
        send = batch_sender(app)
        for i in range(ALERTING_STREAMS):
            send(batch(f"svc-{i}", "java.lang.OutOfMemoryError: Java heap space",
                       Severity.ERROR))
        wait_until(lambda: len(slow_slack.requests) > 0, 60, "the first Slack request")

        started = time.monotonic()
        for i in range(QUIET_BATCHES):
            send(batch("quiet", f"GET /healthz 200 in {i} ms"))
        total = ALERTING_STREAMS + QUIET_BATCHES
        wait_until(lambda: ledger(fleet.database_url)[0] == total, 60, "every batch recorded")
        detect_s = time.monotonic() - started
        received_by_then = len(slow_slack.requests)
        messages = sum(_outbox(fleet).values())  # alerts times channels, all written now

        wait_until(lambda: len(slow_slack.requests) >= messages, 120,
                   "every alert at the receiver")
        wait_until(lambda: _outbox(fleet) == {"sent": messages}, 30,
                   "every message recorded as sent", steady_s=SLACK_DELAY_S)
    finally:
        for worker in workers:
            worker.stop()
        app.close()

    keys = Counter(request.idempotency_key for request in slow_slack.requests)
    assert messages >= ALERTING_STREAMS
    assert len(keys) == messages and set(keys.values()) == {1}, keys
    # Sending them takes messages * 5 s / 2 senders; the quiet batches did not wait for it.
    assert received_by_then < messages, "the quiet batches waited for Slack"
    assert detect_s < SLACK_DELAY_S, detect_s
    attempts = query(fleet.database_url, "SELECT count(*) FROM deliveries")
    assert attempts[0][0] == messages


def _outbox(fleet: FleetConfig) -> dict[str, int]:
    rows = query(fleet.database_url, "SELECT status, count(*) FROM outbox GROUP BY status")
    return {status: int(count) for status, count in rows}


def test_a_sender_killed_mid_send_leaves_every_message_settled(
    fleet: FleetConfig, slow_slack: WebhookStandIn
) -> None:
    """SIGKILL the only sender while its request is at the receiver: after the claim's
    lease the message goes out again, with the same idempotency key, and is recorded."""
    slow_slack.default = WebhookReply(delay_s=1.5)
    env = {**fleet.env(), "LOGWARDEN_CHANNELS": '["slack"]',
           "LOGWARDEN_SLACK_WEBHOOK_URL": slow_slack.url(),
           "LOGWARDEN_NOTIFY__TIMEOUT_S": "2", "LOGWARDEN_NOTIFY__LEASE_S": "5"}
    app = fleet.app()
    detect = CliWorker(fleet, "detect", [], env, children=1)
    first = CliWorker(fleet, "notify-1", ["--queues", "notify"], env, children=1)
    started = [detect, first]
    try:
        detect.wait_ready(app, timeout=90)
        first.wait_ready(app, timeout=90)
        send = batch_sender(app)
        for i in range(3):
            send(batch(f"svc-{i}", "java.lang.OutOfMemoryError: Java heap space",
                       Severity.ERROR))
        wait_until(lambda: len(slow_slack.requests) > 0, 60, "the first Slack request")
        first.kill()  # its request is still at the receiver, its outcome unrecorded
        in_flight = slow_slack.requests[-1].idempotency_key
        second = CliWorker(fleet, "notify-2", ["--queues", "notify"], env, children=1)
        started.append(second)
        second.wait_ready(app, timeout=90)
        wait_until(lambda: ledger(fleet.database_url)[0] == 3, 60, "the batches recorded")
        messages = sum(_outbox(fleet).values())

        def settled() -> bool:  # what beat's sweep every 30 s does, sooner
            app.send_task("logwarden.notify", queue="notify")
            return _outbox(fleet) == {"sent": messages}

        wait_until(settled, 90, "every message settled")
    finally:
        for worker in started:
            worker.stop()
        app.close()

    keys = Counter(request.idempotency_key for request in slow_slack.requests)
    assert len(keys) == messages and keys[in_flight] == 2
    assert {key: n for key, n in keys.items() if n > 1} == {in_flight: 2}
    rows = query(fleet.database_url,
                 "SELECT d.attempt, d.status, o.alert_id || '.' || o.channel FROM deliveries d "
                 "JOIN outbox o ON o.id = d.outbox_id")
    assert len(rows) == messages and {status for _, status, _ in rows} == {"sent"}
    assert {key: attempt for attempt, _, key in rows if attempt > 1} == {in_flight: 2}
