"""Benchmark: the fleet, Pub/Sub → ingest → Celery → detect → Postgres, on loopback.

    python -m tests.benchmarks.fleet [--minutes 20] [--probes 20]

Needs Postgres and Redis on 127.0.0.1 (as the tests do). Prints, all measured in this run:
- entries/s with 1 and with 2 worker processes, and each as a ratio of the baseline: the
  same batches through the same `BatchProcessor` in this process (no broker, no Pub/Sub);
- publish-to-anomaly latency p50 and p99 (a line that trips a rule is published and the
  clock runs until its anomaly row exists), and as a ratio of the batch wait (`max_wait_s`),
  the time an entry may wait for company before its batch closes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from google.cloud import pubsub_v1

import migrations
from pipeline.batch import Batcher
from pipeline.state import InMemoryStateStore
from pipeline.storage import Store, make_engine
from tests.conftest import throwaway_pg_database
from tests.integration.corpus import (
    MINUTE_NS,
    PROJECT,
    TIMESTAMP_ATTRIBUTE,
    Corpus,
    Message,
    build_corpus,
)
from tests.integration.fleet import (
    FLEET_LIMITS,
    FleetConfig,
    IngestRunner,
    WorkerProcess,
    entries_of,
    ledger,
    publish,
    query,
    wait_until,
)
from tests.standins.pubsub import PubSubStandIn
from workers.runtime import build_processor

TOPIC = f"projects/{PROJECT}/topics/bench"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/bench"
PROBE_SERVICE = "latency-probe"


@contextmanager
def fleet_of(workers: int) -> Iterator[tuple[FleetConfig, PubSubStandIn]]:
    """A database, a Redis namespace, the Pub/Sub stand-in and `workers` ready workers."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_pg_database())
        migrations.upgrade(url)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        fleet = FleetConfig(url, f"lwbench-{uuid.uuid4().hex[:12]}:", workdir)
        stack.callback(fleet.drop_redis_keys)
        server = stack.enter_context(PubSubStandIn(max_workers=8, chunk_size=200))
        os.environ["PUBSUB_EMULATOR_HOST"] = server.host
        with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as admin:
            publisher.create_topic(name=TOPIC)
            admin.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=60)
        app = fleet.app()
        stack.callback(app.close)
        for n in range(workers):
            worker = WorkerProcess(fleet, f"bench{n}")
            stack.callback(worker.stop)
            worker.wait_ready(app)
        yield fleet, server


def in_process_rate(corpus: Corpus) -> float:
    """Baseline: the same batches through one BatchProcessor in this process, on Postgres."""
    entries = entries_of(corpus)
    batcher = Batcher(FLEET_LIMITS)
    batches = [b for e in entries for b in batcher.add(e, 0.0)] + batcher.flush()
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        store = Store(make_engine(url))
        settings = FleetConfig(url, "unused:", Path(tempfile.gettempdir())).settings()
        processor = build_processor(settings, InMemoryStateStore(), store)
        started = time.perf_counter()
        for batch in batches:
            processor.process(batch)
        elapsed = time.perf_counter() - started
        store.close()
    return len(entries) / elapsed


def fleet_rate(workers: int, corpus: Corpus) -> float:
    """Entries/s from the ingest's start until the last entry is recorded."""
    unique = corpus.unique_valid
    with fleet_of(workers) as (fleet, _server):
        publisher = pubsub_v1.PublisherClient()
        publish(publisher, TOPIC, corpus.messages)
        started = time.perf_counter()
        runner = IngestRunner(fleet, SUBSCRIPTION, max_queue_depth=50)
        wait_until(lambda: ledger(fleet.database_url)[2] >= unique, 600, "every entry")
        elapsed = time.perf_counter() - started
        runner.stop()
        publisher.stop()
    return unique / elapsed


def probe(n: int) -> Message:
    """One line that the out-of-memory rule reports on its own."""
    ns = time.time_ns()
    stamp = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ns // 10**9))}.{ns % 10**9:09d}Z"
    entry = {
        "insertId": f"probe-{uuid.uuid4().hex}",
        "timestamp": stamp,
        "severity": "ERROR",
        "textPayload": f"java.lang.OutOfMemoryError: Java heap space (probe {n})",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": PROBE_SERVICE}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstderr",
    }
    return Message(json.dumps(entry).encode(), {TIMESTAMP_ATTRIBUTE: stamp})


def latencies(workers: int, probes: int) -> list[float]:
    """Seconds from publishing a probe line until its anomaly is stored, per probe."""
    seen: list[float] = []
    with fleet_of(workers) as (fleet, _server):
        publisher = pubsub_v1.PublisherClient()
        runner = IngestRunner(fleet, SUBSCRIPTION)
        for n in range(probes):
            started = time.perf_counter()
            publish(publisher, TOPIC, [probe(n)])
            wait_for_probe_anomalies(fleet.database_url, n + 1)
            seen.append(time.perf_counter() - started)
            time.sleep(0.3)  # a fresh batch for the next probe
        runner.stop()
        publisher.stop()
    return seen


def wait_for_probe_anomalies(database_url: str, count: int) -> None:
    sql = f"SELECT count(*) FROM anomalies WHERE service = '{PROBE_SERVICE}'"

    def stored() -> bool:
        return int(query(database_url, sql)[0][0]) >= count

    wait_until(stored, 60, f"anomaly {count} of the probes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=20, help="of logs (~510 entries each)")
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    corpus = build_corpus(
        seed=5, start_ns=time.time_ns() - (args.minutes + 10) * MINUTE_NS, minutes=args.minutes
    )
    limits = FLEET_LIMITS
    baseline = in_process_rate(corpus)
    rates = {n: fleet_rate(n, corpus) for n in (1, 2)}
    waits = sorted(latencies(2, args.probes))
    p50 = statistics.median(waits)
    p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
    print(
        f"{corpus.published} messages ({corpus.unique_valid} unique entries), "
        f"{os.cpu_count()} cores, batches of <= {limits.max_entries} / {limits.max_wait_s} s\n"
    )
    print(f"{'':<44}{'entries/s':>10}{'x in-process':>14}")
    print(f"{'in-process BatchProcessor (baseline)':<44}{baseline:>10,.0f}{1:>14.2f}")
    for n, rate in rates.items():
        label = f"fleet, {n} worker process{'es' if n > 1 else ''}"
        print(f"{label:<44}{rate:>10,.0f}{rate / baseline:>14.2f}")
    print(f"\npublish-to-anomaly latency over {len(waits)} probes (2 workers):")
    print(f"  p50 {p50 * 1000:,.0f} ms = {p50 / limits.max_wait_s:.2f} x batch wait")
    print(f"  p99 {p99 * 1000:,.0f} ms = {p99 / limits.max_wait_s:.2f} x batch wait")


if __name__ == "__main__":
    main()
