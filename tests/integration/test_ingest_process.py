"""`logwarden ingest` as its own process: SIGTERM stops the pull, ships the open batches,
acks them and exits 0, with the real client against the gRPC stand-in."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import Message
from tests.integration.fleet import FleetConfig, publish, query, queued_batches, wait_until
from tests.standins.pubsub import PubSubStandIn

pytestmark = pytest.mark.integration

ENTRIES, MALFORMED = 40, 3


def messages() -> list[Message]:
    now = time.time()
    good = [
        {
            "insertId": f"term-{i}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60 + i)),
            "severity": "INFO",
            "textPayload": f"GET /orders/{i} 200",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "orders"}},
        }
        for i in range(ENTRIES)
    ]
    bad = [b'{"insertId": "cut', b"\xff\xfe", b"[1, 2]"][:MALFORMED]
    return [Message(json.dumps(e).encode(), {}) for e in good] + [Message(b, {}) for b in bad]


def test_sigterm_ships_the_open_batches_acks_everything_and_exits_zero(
    fleet: FleetConfig, pubsub: PubSubStandIn, publisher: pubsub_v1.PublisherClient
) -> None:
    publish(publisher, TOPIC, messages())
    env = {
        **fleet.env(),
        "PUBSUB_EMULATOR_HOST": pubsub.host,
        # Batches would wait minutes for company: only the shutdown flush can ship them.
        "LOGWARDEN_BATCH__MAX_WAIT_S": "600",
        "LOGWARDEN_BATCH__MAX_SPAN_S": "3600",
    }
    command = [str(Path(sys.executable).parent / "logwarden"), "ingest",
               "--subscription", SUBSCRIPTION]
    log = fleet.workdir / "ingest.log"
    with log.open("wb") as out:
        ingest = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: pubsub.acked_count(SUBSCRIPTION) == MALFORMED
                   and pubsub.outstanding(SUBSCRIPTION) == ENTRIES, 60,
                   "dead letters acked and the entries held")
        assert queued_batches(fleet) == []  # still open, still unacked
        ingest.send_signal(signal.SIGTERM)
        code = ingest.wait(timeout=60)
    finally:
        ingest.kill()
    assert code == 0, log.read_text()
    assert pubsub.acked_count(SUBSCRIPTION) == ENTRIES + MALFORMED
    shipped = sorted(e.insert_id for b in queued_batches(fleet) for e in b.entries)
    assert shipped == sorted(f"term-{i}" for i in range(ENTRIES))
    (count,) = query(fleet.database_url, "SELECT count(*) FROM dead_letters")
    assert count[0] == MALFORMED
