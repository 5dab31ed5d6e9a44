"""Benchmark: the CPU `logwarden ingest` spends per entry, with nothing else of the fleet.

    python -m tests.benchmarks.ingest_cpu [--rate 10000] [--seconds 15]

The fleet benchmark's load (`tests.benchmarks.fleet`: the same bodies, streams and batch
limits) goes into the Pub/Sub stand-in at `--rate` entries a second; `logwarden ingest`
(its own process) pulls, batches and sends it to the broker. In place of the workers, a
thread of this process takes each batch off the `detect` list and writes its ledger row,
which is all the ingest asks the database before it acks. Timed from the load's start
until the stand-in has every message acked. Printed: the ingest's CPU seconds per 1,000
entries, and per thread (the main loop; by their ids, the stream's reader, its acks and
gRPC's own: `py-spy dump` names them).
A run takes the load's seconds and a few more, and little CPU beside the ingest's.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from google.cloud import pubsub_v1
from kombu import serialization
from sqlalchemy import insert

import migrations
from pipeline.batch import BatchLimits
from pipeline.storage import make_engine
from pipeline.storage.models import LEDGER
from tests.benchmarks.fleet import SUBSCRIPTION, TOPIC, Load, LoadGenerator, limits_env
from tests.benchmarks.fleet_counts import stat_cpu
from tests.conftest import throwaway_pg_database
from tests.integration.fleet import REDIS_DB_URL, FleetConfig, wait_until
from tests.integration.processes import CommandProcess
from tests.standins.pubsub import PubSubStandIn
from workers.celery_app import register_wire_format
from workers.tasks import decode_batch

LIMITS = BatchLimits(max_entries=500, max_wait_s=1.0)  # the fleet benchmark's defaults


class Recorder:
    """Records each batch the ingest sends as the workers would in the ledger, and nothing
    else: the ingest acks a batch's messages once its ledger row exists."""

    def __init__(self, fleet: FleetConfig) -> None:
        self._fleet = fleet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self.batches = 0

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        register_wire_format()
        broker = redis.Redis.from_url(REDIS_DB_URL)
        engine = make_engine(self._fleet.database_url)
        key = self._fleet.prefix + "broker:detect"
        try:
            while not self._stop.is_set():
                items = broker.lpop(key, 50)
                if not items:
                    time.sleep(0.05)
                    continue
                with engine.begin() as conn:
                    conn.execute(insert(LEDGER), [ledger_row(item) for item in items])
                self.batches += len(items)
        finally:
            engine.dispose()
            broker.close()


def ledger_row(item: bytes) -> dict[str, object]:
    """The ledger row of the batch in one Celery message of the detect queue."""
    message = json.loads(item)
    args, _, _ = serialization.loads(base64.b64decode(message["body"]),
                                     message["content-type"], message["content-encoding"])
    batch = decode_batch(args[0])
    return {"batch_id": batch.id, "stream": str(batch.key), "entries": len(batch.entries),
            "processed": len(batch.entries), "duplicates": 0, "start_ns": batch.start_ns,
            "end_ns": batch.end_ns, "created_at": datetime.now(UTC)}


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of process `pid`."""
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(tid)] = stat_cpu(Path(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:
            continue
    return seconds


def thread_names(pid: int) -> dict[int, str]:
    """The kernel's names of the threads of process `pid` (Python's threads all bear the
    process's name; gRPC's have names of their own)."""
    return {int(tid): Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            for tid in os.listdir(f"/proc/{pid}/task")}


def run(rate: int, seconds: float) -> None:
    with throwaway_pg_database() as url, PubSubStandIn(max_workers=8, chunk_size=500) as server:
        migrations.upgrade(url)
        with tempfile.TemporaryDirectory() as workdir:
            fleet = FleetConfig(url, f"lwingest-{uuid.uuid4().hex[:12]}:", Path(workdir))
            os.environ["PUBSUB_EMULATOR_HOST"] = server.host
            with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as admin:
                publisher.create_topic(name=TOPIC)
                admin.create_subscription(name=SUBSCRIPTION, topic=TOPIC,
                                          ack_deadline_seconds=60)
            ingest = CommandProcess(fleet, "ingest", ["ingest", "--subscription", SUBSCRIPTION],
                                    {"PUBSUB_EMULATOR_HOST": server.host, **limits_env(LIMITS)})
            try:
                with Recorder(fleet) as recorder:
                    measure(server, ingest, recorder, Load(rate, seconds, 0.0, LIMITS))
            finally:
                ingest.stop()
                fleet.drop_redis_keys()


def measure(server: PubSubStandIn, ingest: CommandProcess, recorder: Recorder,
            load: Load) -> None:
    wait_until(lambda: server.open_streams() > 0 or not ingest.alive(), 60, "the ingest")
    ingest.check_alive()
    pid = ingest.process.pid
    generator = LoadGenerator(server, load, 0, 5)
    before, started = thread_cpu(pid), time.monotonic()
    generator.start()
    generator.join()
    entries = generator.published.entries
    wait_until(lambda: server.store.acked_count(SUBSCRIPTION) >= entries, 120,
               "every message acked")
    after, took = thread_cpu(pid), time.monotonic() - started
    names = thread_names(pid)
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    print(f"{entries} entries in {recorder.batches} batches, {took:.1f} s from the load's start "
          f"until all were acked")
    print(f"ingest CPU s per 1,000 entries: {sum(spent.values()) / entries * 1000:.4f}")
    for tid, cpu in sorted(spent.items(), key=lambda item: -item[1]):
        if cpu / entries * 1000 >= 0.0005:
            kind = "main" if tid == pid else names.get(tid, "?")
            print(f"  thread {tid} ({kind}): {cpu / entries * 1000:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="The CPU `logwarden ingest` spends per entry.")
    parser.add_argument("--rate", type=int, default=10_000, help="entries/s offered")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the load runs")
    args = parser.parse_args()
    run(args.rate, args.seconds)


if __name__ == "__main__":
    main()
