"""One Celery app everywhere: a send from any thread of any Logwarden process goes to
Logwarden's broker, never to Celery's default app (amqp://localhost, where a RabbitMQ may
listen and swallow it). Checked in a fresh process, and end to end through the real
`logwarden push` process and a real worker, counting what lands in Postgres."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.fleet import (
    REPO,
    FleetConfig,
    WorkerProcess,
    ledger,
    queued_batches,
)
from tests.integration.processes import PushProcess

pytestmark = pytest.mark.integration

TOKEN = "one-app-push-token"

# Run in a fresh process: composed as `logwarden push` and `ingest` are (the sender built
# on the main thread), then what a send from another thread would use, and a real send.
PROBE = """
import json, threading
from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity
from workers.fleet import fleet_sender
from workers.tasks import check_silence, detect_batch, notify, prune_accounting

send = fleet_sender()
seen = {}
def probe():
    for task in (detect_batch, notify, check_silence, prune_accounting):
        app = task._get_current_object().app
        seen[task.name] = app.connection_for_write().as_uri(include_password=True)
    entry = LogEntry("probe-1", 1_700_000_000_000_000_000, Severity.ERROR, "probe", "p", "svc")
    send(Batch(entry.stream_key, (entry,)))
thread = threading.Thread(target=probe)
thread.start()
thread.join()
print(json.dumps(seen))
"""


def test_a_send_from_another_thread_uses_logwardens_broker(fleet: FleetConfig) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=fleet.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    brokers = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(brokers) == {"logwarden.detect_batch", "logwarden.notify",
                            "logwarden.check_silence", "logwarden.prune_accounting"}
    assert set(brokers.values()) == {fleet.env()["LOGWARDEN_BROKER_URL"]}
    assert [e.insert_id for b in queued_batches(fleet) for e in b.entries] == ["probe-1"]


def push_envelope(i: int) -> dict[str, Any]:
    entry = {
        "insertId": f"one-app-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        "severity": "INFO",
        "textPayload": f"GET /items/{i} 200",
        "resource": {"type": "cloud_run_revision",
                     "labels": {"service_name": f"svc-{i % 3}"}},
    }
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    return {"message": {"data": data, "messageId": f"one-app-m{i}", "attributes": {}},
            "subscription": "projects/acme-fleet/subscriptions/push"}


def test_every_entry_the_push_process_accepts_is_recorded_in_postgres(
    fleet: FleetConfig, start_worker: Callable[[str], WorkerProcess]
) -> None:
    start_worker("w1")
    push = PushProcess(fleet, TOKEN, {"LOGWARDEN_BATCH__MAX_WAIT_S": "0.3"})
    try:
        push.wait_ready()
        with httpx.Client(base_url=push.url, timeout=60) as client, \
                ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(
                lambda i: client.post(f"/pubsub/push?token={TOKEN}",
                                      json=push_envelope(i)).status_code,
                range(60)))
    finally:
        push.stop()
    assert answers == [204] * 60
    # Answered only once recorded: every accepted entry is in the ledger already.
    assert ledger(fleet.database_url)[2] == 60
