"""Secrets planted everywhere a user could put them (log entries, settings, replies of
receivers that echo what they were sent) never come out: not in any process's log, CLI
output, metrics page or stored delivery. Real processes: two workers, the push endpoint,
`logwarden run` and `migrate`."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller

from tests.alerting.conftest import (
    SMTP_USER,
    SmtpRecorder,
    WebhookReply,
    WebhookStandIn,
    echoing_authenticator,
    free_port,
)
from tests.integration.cli_processes import CliWorker, run_cli
from tests.integration.fleet import FleetConfig, query, wait_until
from tests.integration.processes import PushProcess

pytestmark = pytest.mark.integration

SLACK_TOKEN = "xoxPLANTEDslackTOKEN7731"
SMTP_PASSWORD = "PLANTED-smtp-pw-5520"  # not the stand-in's: it refuses, quoting it back
PUSH_TOKEN = "PLANTEDpushTOKEN0912"
DB_PASSWORD = "PLANTEDdbPW4478"
# Not a setting of ours, so no redaction knows it: only keeping log text out of our logs
# keeps it out.
CUSTOMER_SECRET = "PLANTEDcustomerPW6604"


@pytest.fixture
def echoing_slack() -> Iterator[WebhookStandIn]:
    """A webhook that fails, quoting the URL it was called on (the token is in it)."""
    receiver = WebhookStandIn()
    receiver.default = WebhookReply(status=500, echo_path=True)
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def echoing_smtp() -> Iterator[int]:
    port = free_port()
    controller = Controller(SmtpRecorder(), hostname="127.0.0.1", port=port,
                            authenticator=echoing_authenticator, auth_require_tls=False)
    controller.start()
    yield port
    controller.stop()


def with_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{DB_PASSWORD}@{host}"


def planted_entries(webhook_url: str, db_url: str) -> list[dict[str, object]]:
    texts = [
        f"OutOfMemoryError while posting to {webhook_url}",
        f"OutOfMemoryError: login failed for {SMTP_USER} password={SMTP_PASSWORD}",
        f"OutOfMemoryError: push rejected token={PUSH_TOKEN}",
        f"OutOfMemoryError: cannot connect to {db_url}",
    ]
    now = time.time_ns()
    return [
        {"insertId": f"planted-{i}", "severity": "ERROR", "textPayload": text,
         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now / 1e9 + i)) + "Z",
         "resource": {"type": "k8s_container",
                      "labels": {"project_id": "acme-prod", "container_name": "payments"}}}
        for i, text in enumerate(f"{t} (user password={CUSTOMER_SECRET})" for t in texts * 3)
    ]


def push_body(entry: dict[str, object], n: int) -> bytes:
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    message = {"data": data, "messageId": str(n), "attributes": {}}
    return json.dumps({"message": message, "subscription": "projects/acme/subscriptions/s"}
                      ).encode()


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def test_planted_secrets_never_come_out(
    fleet: FleetConfig, echoing_slack: WebhookStandIn, echoing_smtp: int, tmp_path: Path
) -> None:
    db_url = with_password(fleet.database_url)
    webhook_url = echoing_slack.url(SLACK_TOKEN)
    env = {**fleet.env(), "LOGWARDEN_DATABASE_URL": db_url, "LOGWARDEN_LOG_JSON": "true",
           "LOGWARDEN_CHANNELS": '["slack", "email"]',
           "LOGWARDEN_SLACK_WEBHOOK_URL": webhook_url,
           "LOGWARDEN_SMTP__HOST": "127.0.0.1", "LOGWARDEN_SMTP__PORT": str(echoing_smtp),
           "LOGWARDEN_SMTP__RECIPIENTS": '["oncall@example.test"]',
           "LOGWARDEN_SMTP__USERNAME": SMTP_USER, "LOGWARDEN_SMTP__PASSWORD": SMTP_PASSWORD,
           "LOGWARDEN_PUSH_TOKEN": PUSH_TOKEN, "LOGWARDEN_BATCH__MAX_WAIT_S": "0.5"}
    ports = {name: free_port() for name in ("detect", "notify")}
    entries = planted_entries(webhook_url, db_url)
    app = fleet.app()
    detect = CliWorker(fleet, "detect", [], {**env, "LOGWARDEN_METRICS_PORT": str(ports["detect"])},
                       children=1)
    notify = CliWorker(fleet, "notify", ["--queues", "notify"],
                       {**env, "LOGWARDEN_METRICS_PORT": str(ports["notify"])}, children=1)
    push = PushProcess(fleet, PUSH_TOKEN, env)
    processes = [detect, notify, push]
    try:
        for worker in (detect, notify):
            worker.wait_ready(app, timeout=90)
        push.wait_ready()
        endpoint = f"{push.url}/pubsub/push"
        requests = [(f"{endpoint}?token={PUSH_TOKEN}", push_body(e, n))
                    for n, e in enumerate(entries)]
        requests.append((f"{endpoint}?token=wrong-{PUSH_TOKEN[::-1]}",
                         push_body(entries[0], 99)))
        with ThreadPoolExecutor(len(requests)) as pool:  # push answers once recorded
            statuses = list(pool.map(lambda r: post(*r), requests))
            wait_until(lambda: _settled_attempts(fleet) >= 2, 90,
                   "an attempt on each channel recorded")
        pages = [fetch(f"http://127.0.0.1:{ports[name]}/metrics")
                 for name in ("detect", "notify")]
    finally:
        for process in processes:
            process.stop()
        app.close()

    source = tmp_path / "planted.jsonl"
    source.write_text("".join(json.dumps({**e, "insertId": f"run-{i}"}) + "\n"
                              for i, e in enumerate(entries)))
    cli_env = {**env, "LOGWARDEN_LOG_JSON": "false"}
    commands = (["run", "--from", str(source)], ["migrate"])
    with ThreadPoolExecutor(len(commands)) as pool:
        outputs = list(pool.map(lambda args: run_cli(args, cli_env), commands))
    for result in outputs:
        assert result.returncode == 0, result.stderr[-2000:]

    logs = {p.name: p.log_path.read_text(errors="replace") for p in processes}
    stored = [str(row) for row in query(
        fleet.database_url,
        "SELECT error FROM deliveries UNION ALL SELECT coalesce(last_error, '') FROM outbox "
        "UNION ALL SELECT payload::text FROM outbox")]
    everything = {**logs, **{f"cli {r.args[1]}": r.stdout + r.stderr for r in outputs},
                  "metrics detect": pages[0], "metrics notify": pages[1],
                  "stored deliveries": "\n".join(stored)}

    # The plants reached every place they could leak from.
    assert statuses[:-1] == [204] * len(entries) and statuses[-1] == 401, statuses
    assert any(SLACK_TOKEN in r.path for r in echoing_slack.requests)
    assert "Task logwarden.detect_batch[" in logs["detect@cli-test"]
    assert '"severity": "WARNING"' in logs["notify@cli-test"]
    assert "/pubsub/push" in logs["push"]
    assert "alert delivery" in everything["cli run"]
    assert ":***@" in everything["cli run"] and ":***@" in everything["cli migrate"]
    leaks = [(where, secret) for where, text in everything.items()
             for secret in _forms() if secret in text]
    assert leaks == []


def _forms() -> list[str]:
    secrets = [SLACK_TOKEN, SMTP_PASSWORD, PUSH_TOKEN, DB_PASSWORD, CUSTOMER_SECRET]
    return secrets + [quote(s, safe="") for s in secrets] + [
        base64.b64encode(s.encode()).decode() for s in secrets]


def _settled_attempts(fleet: FleetConfig) -> int:
    rows = query(fleet.database_url, "SELECT count(DISTINCT channel) FROM deliveries")
    return int(rows[0][0])
