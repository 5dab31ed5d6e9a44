"""An incident's life through the real doors: Postgres, a real `logwarden worker` on the
notify queue, a Slack-like HTTP receiver and an aiosmtpd mail server, and the real
`logwarden` CLI acknowledging, resolving and silencing. One incident is paged, updated in
its thread when it grows, acknowledged (muted while it grows on), resolved while no
sender runs, and its resolved notice still reaches both receivers from a new worker."""

from __future__ import annotations

import email
import json
import threading
import time
from collections.abc import Iterator
from email.message import Message

import pytest
from sqlalchemy import select

from pipeline.anomaly import Anomaly, AnomalySeverity
from pipeline.entry import StreamKey
from pipeline.storage import BatchRecord, Store, make_engine
from pipeline.storage.models import OUTBOX
from tests.alerting.conftest import SmtpStandIn, WebhookStandIn, _run_smtp
from tests.integration.cli_processes import CliWorker, run_cli
from tests.integration.fleet import FleetConfig, wait_until
from tests.pipeline.test_storage import make_anomaly

pytestmark = pytest.mark.integration

PAYMENTS = StreamKey("acme-prod", "cloud_run_revision", "payments")
SEARCH = StreamKey("acme-prod", "cloud_run_revision", "search")
SECOND = 1_000_000_000


@pytest.fixture
def slack() -> Iterator[WebhookStandIn]:
    receiver = WebhookStandIn()
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def mail() -> Iterator[SmtpStandIn]:
    yield from _run_smtp(auth_require_tls=False)


class Lifecycle:
    """The fleet's side the test plays itself: recording anomalies as a detect worker
    does, and asking for a notify sweep as beat does every 30 s."""

    def __init__(self, fleet: FleetConfig, env: dict[str, str]) -> None:
        self.fleet, self.env = fleet, env
        self.store = Store(make_engine(fleet.database_url))
        self.app = fleet.app()
        self.batches = 0

    def record(self, anomaly: Anomaly) -> str:
        self.batches += 1
        record = BatchRecord(anomaly.batch_id, str(anomaly.stream), 1, 1, 0,
                             anomaly.start_ns, anomaly.end_ns)
        result = self.store.record_batch(record, [anomaly], [], {}, channels=("email", "slack"))
        return result.alert_of[anomaly.id]

    def anomaly(self, kind: str, severity: AnomalySeverity, stream: StreamKey = PAYMENTS,
                ) -> Anomaly:
        return make_anomaly(f"batch-{self.batches}-{kind}", kind, start_ns=time.time_ns(),
                            severity=severity, stream=stream)

    def sweep(self) -> None:
        self.app.send_task("logwarden.notify", queue="notify")

    def cli(self, *args: str) -> str:
        done = run_cli(list(args), self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def settled(self) -> bool:
        """Whether every message's outcome is recorded (none waiting or in flight)."""
        with self.store.engine.connect() as conn:
            statuses = conn.execute(select(OUTBOX.c.status).distinct()).scalars().all()
        return set(statuses) <= {"sent", "skipped", "failed"}

    def close(self) -> None:
        self.store.close()
        self.app.close()


def mails(smtp: SmtpStandIn) -> list[Message]:
    return [email.message_from_bytes(raw) for _, _, raw in smtp.recorder.received]


def keys(slack: WebhookStandIn) -> list[str | None]:
    return [r.idempotency_key for r in slack.requests]


def test_one_incident_is_paged_updated_acknowledged_and_resolved_across_a_restart(
    fleet: FleetConfig, slack: WebhookStandIn, mail: SmtpStandIn
) -> None:
    env = {**fleet.env(), "LOGWARDEN_CHANNELS": '["email", "slack"]',
           "LOGWARDEN_SLACK_WEBHOOK_URL": slack.url(),
           "LOGWARDEN_SMTP__HOST": "127.0.0.1", "LOGWARDEN_SMTP__PORT": str(mail.port),
           "LOGWARDEN_SMTP__RECIPIENTS": '["oncall@acme.test"]'}
    life = Lifecycle(fleet, env)
    sender = CliWorker(fleet, "notify-1", ["--queues", "notify"], env, children=1)
    try:
        sender.wait_ready(life.app, timeout=90)
        incident = life.record(life.anomaly("http_5xx", AnomalySeverity.WARNING))
        life.sweep()
        wait_until(lambda: len(slack.requests) == 1 and len(mails(mail)) == 1, 60, "the page")

        # Growth: a new type, now critical. One update, in the page's email thread.
        assert life.record(life.anomaly("crash_loop", AnomalySeverity.CRITICAL)) == incident
        life.sweep()
        wait_until(lambda: len(slack.requests) == 2 and len(mails(mail)) == 2, 60, "the update")
        page, update = mails(mail)
        assert update["In-Reply-To"] == page["Message-ID"]
        # The thread keeps its subject (Gmail splits a conversation whose subject
        # changes); the update's first line says it is critical now.
        assert update["Subject"] == "Re: " + page["Subject"]
        text = update.get_payload()[0].get_payload(decode=True).decode()
        assert "[CRITICAL]" in text.splitlines()[0]
        assert keys(slack) == [f"{incident}.slack", f"{incident}.slack.r2"]

        # Acknowledged with the real CLI: told once, then muted while it grows on.
        assert "acknowledged" in life.cli("ack", incident, "--by", "ana")
        life.sweep()
        wait_until(lambda: len(slack.requests) == 3 and len(mails(mail)) == 3, 60, "the ack")
        for i in range(3):
            life.record(life.anomaly(f"volume_spike_{i}", AnomalySeverity.CRITICAL))
        life.sweep()
        time.sleep(3)
        assert len(slack.requests) == 3 and len(mails(mail)) == 3

        # No sender runs while it is resolved: the notice waits in Postgres.
        sender.stop()
        assert "resolved" in life.cli("resolve", incident, "--by", "ana")
        sender = CliWorker(fleet, "notify-2", ["--queues", "notify"], env, children=1)
        sender.wait_ready(life.app, timeout=90)
        life.sweep()
        wait_until(lambda: len(slack.requests) == 4 and len(mails(mail)) == 4, 60,
                   "the resolved notice")
        wait_until(life.settled, 30, "every message recorded")
    finally:
        sender.stop()
        life.close()

    resolved = mails(mail)[-1]
    assert resolved["In-Reply-To"] == page["Message-ID"]
    assert keys(slack)[-1] == f"{incident}.slack.r4"
    listed = json.loads(life.cli("incidents", "--state", "all", "--json"))
    assert [(i["id"], i["status"], i["acknowledged_by"]) for i in listed] == [
        (incident, "resolved", "ana")]
    assert listed[0]["anomaly_count"] == 5 and listed[0]["severity"] == "critical"
    shown = json.loads(life.cli("incident", incident, "--json"))
    slack_history = [(h["kind"], h["revision"], h["status"]) for h in shown["history"]
                     if h["receiver"] == "slack"]
    assert slack_history == [("firing", 1, "sent"), ("update", 2, "sent"),
                             ("acknowledged", 3, "sent"), ("resolved", 4, "sent")]


def test_a_silence_from_the_cli_mutes_its_service_and_inhibition_mutes_warnings(
    fleet: FleetConfig, slack: WebhookStandIn
) -> None:
    env = {**fleet.env(), "LOGWARDEN_CHANNELS": '["slack"]',
           "LOGWARDEN_SLACK_WEBHOOK_URL": slack.url()}
    life = Lifecycle(fleet, env)
    sender = CliWorker(fleet, "notify", ["--queues", "notify"], env, children=1)
    try:
        sender.wait_ready(life.app, timeout=90)
        out = life.cli("silence", "add", "service=search", "--for", "1h",
                       "--comment", "reindexing", "--author", "ana")
        silence_id = out.split()[1]
        silenced = life.record(life.anomaly("error_burst", AnomalySeverity.CRITICAL, SEARCH))
        critical = life.record(life.anomaly("crash_loop", AnomalySeverity.CRITICAL))
        warning_stream = StreamKey("acme-prod", "k8s_container", "payments")
        inhibited = life.record(life.anomaly("http_5xx", AnomalySeverity.WARNING,
                                             warning_stream))
        life.sweep()
        wait_until(lambda: len(slack.requests) >= 1, 60, "the critical page", steady_s=3)
        assert keys(slack) == [f"{critical}.slack"]
        listed = json.loads(life.cli("silence", "list", "--json"))
        assert [(s["id"], s["matchers"], s["author"]) for s in listed] == [
            (silence_id, ["service=search"], "ana")]
        assert "expired" in life.cli("silence", "expire", silence_id)
        assert json.loads(life.cli("silence", "list", "--json")) == []
        wait_until(life.settled, 30, "every message recorded")
    finally:
        sender.stop()
        life.close()

    why = {i: json.loads(life.cli("incident", i, "--json"))["history"][0]["error"]
           for i in (silenced, inhibited)}
    assert why[silenced].startswith(f"silenced by {silence_id} (ana: reindexing)")
    assert why[inhibited] == f"inhibited by critical incident {critical}"


def test_a_firing_incident_is_paged_again_after_its_repeat_interval_until_acknowledged(
    fleet: FleetConfig, slack: WebhookStandIn
) -> None:
    env = {**fleet.env(), "LOGWARDEN_CHANNELS": '["slack"]',
           "LOGWARDEN_SLACK_WEBHOOK_URL": slack.url(), "LOGWARDEN_ROUTE__REPEAT_INTERVAL": "2s"}
    life = Lifecycle(fleet, env)
    sender = CliWorker(fleet, "notify", ["--queues", "notify"], env, children=1)
    try:
        sender.wait_ready(life.app, timeout=90)
        incident = life.record(life.anomaly("crash_loop", AnomalySeverity.CRITICAL))
        life.sweep()
        wait_until(lambda: len(slack.requests) == 1, 60, "the page")
        time.sleep(2.5)
        life.sweep()  # what beat does every 30 s
        wait_until(lambda: len(slack.requests) == 2, 60, "the repeat")
        life.cli("ack", incident, "--by", "ana")
        life.sweep()
        wait_until(lambda: len(slack.requests) == 3, 60, "the acknowledgement")
        time.sleep(2.5)
        life.sweep()
        time.sleep(3)
        wait_until(life.settled, 30, "every message recorded")
    finally:
        sender.stop()
        life.close()
    assert keys(slack) == [f"{incident}.slack", f"{incident}.slack.r2", f"{incident}.slack.r3"]
