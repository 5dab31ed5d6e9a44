"""A batch the fleet cannot process is kept as dead letters, never dropped: invariant 1
holds for bugs and poison input too, and the worker goes on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from pipeline.state import InMemoryStateStore
from pipeline.storage import Store, make_engine
from tests.integration.fleet import FleetConfig, ledger, query, wait_until
from workers.runtime import build_processor
from workers.tasks import DETECT_TASK, batch_sender, encode_batch, keep_failed_payload

pytestmark = pytest.mark.integration

T0 = 1_793_606_400 * 10**9
KEY = StreamKey("acme-fleet", "k8s_container", "poison")


def batch(message: str, n: int = 3, service: str = "poison") -> Batch:
    key = StreamKey(KEY.project, KEY.resource_type, service)
    entries = tuple(
        LogEntry(
            insert_id=f"{service}-{i}",
            timestamp_ns=T0 + i * 10**9,
            severity=Severity.ERROR,
            message=f"{message} {i}",
            project=key.project,
            service=service,
            resource_type=key.resource_type,
        )
        for i in range(n)
    )
    return Batch(key, entries)


def failed_letters(database_url: str) -> list[tuple[str, bytes]]:
    rows = query(
        database_url,
        "SELECT source, raw FROM dead_letters WHERE reason = 'processing_failed' ORDER BY source",
    )
    return [(row[0], bytes(row[1])) for row in rows]


def test_a_poison_batch_becomes_dead_letters_and_the_worker_goes_on(
    fleet: FleetConfig, start_worker
) -> None:
    start_worker("w1")
    app = fleet.app()
    send = batch_sender(app)
    # Postgres text holds no NUL: this batch (which parsing would have cleaned) fails
    # in the store, on every try, as a bug would.
    poison, good = batch("disk full\x00"), batch("disk full", service="healthy")
    send(poison)
    app.send_task(DETECT_TASK, args=["{not a batch"], queue="detect")
    cut_short = encode_batch(batch("cut short", service="cut"))[:40]  # a Zstandard frame's start
    app.send_task(DETECT_TASK, args=[cut_short], queue="detect")
    send(good)
    wait_until(lambda: len(failed_letters(fleet.database_url)) == 5, 60, "the dead letters")
    wait_until(lambda: ledger(fleet.database_url)[0] == 1, 60, "the good batch")
    app.close()

    letters = failed_letters(fleet.database_url)
    assert [source for source, _ in letters] == [
        f"batch:{poison.id}#0", f"batch:{poison.id}#1", f"batch:{poison.id}#2", "detect_batch",
        "detect_batch",
    ]
    kept = [msgspec.json.decode(raw, type=LogEntry) for _, raw in letters[:3]]
    assert kept == list(poison.entries)  # each entry, whole, ready for a replay
    assert {raw for _, raw in letters[3:]} == {b"{not a batch", cut_short}
    (recorded,) = query(fleet.database_url, "SELECT batch_id FROM processed_batches")
    assert recorded[0] == good.id


def test_keeping_a_failed_batch_is_idempotent_and_skips_recorded_ones(
    fleet: FleetConfig,
) -> None:
    store = Store(make_engine(fleet.database_url))
    failing = batch("connection refused")
    error = RuntimeError("detector state exploded\nwith a second line")
    assert keep_failed_payload(store, encode_batch(failing), error) == 3
    assert keep_failed_payload(store, encode_batch(failing), error) == 0  # redelivered
    [row, *_] = store.dead_letters(reason="processing_failed")
    assert row.detail == (
        f"Its batch {failing.id} failed for good with RuntimeError: detector state exploded"
    )

    recorded = batch("connection refused", service="recorded")
    build_processor(fleet.settings(), InMemoryStateStore(), store).process(recorded)
    assert keep_failed_payload(store, encode_batch(recorded), error) == 0
    assert store.totals().dead_letters == 3
    store.close()


def test_replay_processes_the_failed_batches_once_their_cause_is_gone(
    fleet: FleetConfig,
) -> None:
    store = Store(make_engine(fleet.database_url))
    fixed = batch("OutOfMemoryError: Java heap space", service="fixed")  # its bug is gone
    poison = batch("disk full\x00")  # still fails: Postgres text holds no NUL
    for failed in (fixed, poison):
        keep_failed_payload(store, encode_batch(failed), RuntimeError("a bug"))

    def replay() -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "logwarden"), "dead-letters", "--replay"]
        return subprocess.run(command, env=fleet.env(), capture_output=True, text=True,
                              timeout=120, check=False)

    first = replay()
    assert first.returncode == 1, first.stderr  # one batch failed again
    assert "replayed 1 batches (3 entries); 1 failed again" in first.stdout
    assert store.batch_recorded(fixed.id) and not store.batch_recorded(poison.id)
    left = [row.source for row in store.dead_letters(reason="processing_failed")]
    assert sorted(left) == [f"batch:{poison.id}#{i}" for i in range(3)]
    assert {a.anomaly_type for a in store.anomalies(service="fixed")} == {
        "resource_exhaustion"
    }
    totals = store.totals()
    assert (totals.processed, totals.dead_letters) == (3, 3)  # every entry counted once

    again = replay()
    assert "replayed 0 batches (0 entries); 1 failed again" in again.stdout
    assert store.totals().processed == 3
    store.close()


def test_a_failed_batch_of_large_entries_is_kept_whole(fleet: FleetConfig) -> None:
    store = Store(make_engine(fleet.database_url))
    large = batch("x" * 200_000, n=2, service="large")  # past the 64 KiB other letters keep
    assert keep_failed_payload(store, encode_batch(large), RuntimeError("a bug")) == 2
    kept = [
        msgspec.json.decode(raw, type=LogEntry)
        for _, raw in failed_letters(fleet.database_url)
    ]
    assert sorted(e.insert_id for e in kept) == ["large-0", "large-1"]
    assert all(len(e.message) == 200_002 for e in kept)
    store.close()
