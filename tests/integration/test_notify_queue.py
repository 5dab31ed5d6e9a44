"""Sending runs on workers of its own: a slow receiver never holds up detection, and each
alert reaches it once. Real `logwarden worker` processes, a Slack-like receiver that
answers after seconds."""

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
