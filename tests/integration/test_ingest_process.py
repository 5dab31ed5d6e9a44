"""`logwarden ingest` as its own process: messages are acked only once their batch is
recorded; SIGTERM stops the pull, ships the open batches, acks them once a worker has
recorded them and exits 0, with the real client against the gRPC stand-in."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import Message
from tests.integration.fleet import (
    FleetConfig,
    WorkerProcess,
    ledger,
    publish,
    query,
    queued_batches,
    wait_until,
)
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


def test_sigterm_ships_the_open_batches_acks_them_once_recorded_and_exits_zero(
    fleet: FleetConfig, pubsub: PubSubStandIn, publisher: pubsub_v1.PublisherClient,
    start_worker: Callable[[str], WorkerProcess],
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
        start_worker("w1")
        ingest.send_signal(signal.SIGTERM)
        code = ingest.wait(timeout=60)
    finally:
        ingest.kill()
    assert code == 0, log.read_text()
    assert pubsub.acked_count(SUBSCRIPTION) == ENTRIES + MALFORMED
    assert ledger(fleet.database_url)[2] == ENTRIES  # acked means recorded
    (count,) = query(fleet.database_url, "SELECT count(*) FROM dead_letters")
    assert count[0] == MALFORMED


def test_a_batch_lost_in_the_broker_is_nacked_and_delivered_again(
    fleet: FleetConfig, pubsub: PubSubStandIn, publisher: pubsub_v1.PublisherClient,
    start_worker: Callable[[str], WorkerProcess],
) -> None:
    """Redis forgets a queued batch: its messages were never acked, so they come back."""
    publish(publisher, TOPIC, messages())
    env = {**fleet.env(), "PUBSUB_EMULATOR_HOST": pubsub.host,
           "LOGWARDEN_BATCH__MAX_WAIT_S": "0.5", "LOGWARDEN_INGEST_RECORD_TIMEOUT_S": "3"}
    command = [str(Path(sys.executable).parent / "logwarden"), "ingest",
               "--subscription", SUBSCRIPTION]
    log = fleet.workdir / "ingest.log"
    with log.open("wb") as out:
        ingest = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: bool(queued_batches(fleet)), 60, "a batch in the broker")
        fleet.drop_redis_keys()  # what a Redis restart without persistence does
        assert pubsub.acked_count(SUBSCRIPTION) == MALFORMED  # nothing acked for it
        start_worker("w1")
        assert pubsub.wait_until_drained(SUBSCRIPTION, timeout=60), log.read_text()[-3000:]
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=60) == 0
    finally:
        ingest.kill()
    assert ledger(fleet.database_url)[2] == ENTRIES
    (outcomes,) = query(fleet.database_url, "SELECT count(*) FROM entry_outcomes")
    assert outcomes[0] == ENTRIES


def test_a_missing_subscription_ends_the_ingest_with_the_services_words(
    fleet: FleetConfig, pubsub: PubSubStandIn,
) -> None:
    env = {**fleet.env(), "PUBSUB_EMULATOR_HOST": pubsub.host}
    missing = "projects/logwarden-test/subscriptions/missing"
    command = [str(Path(sys.executable).parent / "logwarden"), "ingest", "--subscription", missing]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"logwarden: Google Cloud refused a call: NotFound: '{missing}'")
