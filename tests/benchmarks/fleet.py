"""Benchmark: the fleet under a fixed offered load, Pub/Sub → ingest → Celery → Postgres.

    python -m tests.benchmarks.fleet [--rate 10000] [--seconds 60] [--workers 2]
                                     [--workers-alone]

Needs Postgres and Redis on 127.0.0.1 (as the tests do). Everything runs as it does in
production, on this machine: the Pub/Sub stand-in (gRPC, in this process) receives
`--rate` entries a second for `--seconds`; `logwarden ingest` (its own process, the real
client library's StreamingPull) batches them for `--workers` Celery prefork worker processes on
Redis, which record them in Postgres. Among the entries, probes are planted at known
publish times: a line the out-of-memory rule reports, in a busy stream. Printed, all from
this run:
- entries/s offered, and sustained (recorded in Postgres while the load ran);
- whether the fleet kept up: the backlog (published, not yet recorded) when the load
  stops, and how long it took to clear; when it did not keep up, the rate at which it
  cleared that backlog (its capacity with the stand-in serving pulls, not taking publishes);
- publish→anomaly latency p50 / p99 of the probes (publish time stamped by the stand-in
  until their anomaly row's `created_at` in Postgres);
- the in-process baseline: the load's first entries (`--baseline-entries`: the same
  bodies and probes), batched with the same limits as they would arrive at the offered
  rate, through one `BatchProcessor` in this process on the same Postgres (no broker, no
  Pub/Sub). The same batches run twice, each on a new database: before the fleet starts
  and after it has stopped, so that both halves of the ratio see the machine's load of
  the same minutes on a shared machine; the fleet's rate is a ratio of their mean, and
  their spread says how far the machine's load moved meanwhile. For reference, the
  fleet's own batches of those entries (read back from `entry_outcomes`) run once more
  after it, as the baseline was defined before;
- CPU seconds of each part (stand-in and load, ingest, workers, and the Postgres server
  processes of the fleet's database) per 1,000 entries;
- the workers alone, before the Pub/Sub run: the planned batches sent to the detect queue
  with the ingest's own sender and timed until Postgres holds them, with nothing else
  running (no stand-in, no ingest): what the workers lose against in-process on the same
  batches. `--workers-alone` runs only this and the baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery
from google.cloud import pubsub_v1
from sqlalchemy import text

import migrations
from pipeline.batch import Batch, Batcher, BatchLimits
from pipeline.entry import LogEntry
from pipeline.parsing import parse_pubsub_message
from pipeline.state import InMemoryStateStore
from pipeline.storage import Store, make_engine
from tests.benchmarks.fleet_counts import (
    PostgresActivity,
    RedisCounts,
    RedisMonitor,
    StatementCounts,
    backend_cpu,
    backend_cpu_since,
    broker_message_bytes,
    counting_statements,
    postgres_activity,
)
from tests.conftest import throwaway_pg_database
from tests.integration.corpus import PROJECT, SERVICES, TIMESTAMP_ATTRIBUTE, _entry
from tests.integration.fleet import FleetConfig, WorkerProcess, query, wait_until
from tests.integration.processes import CommandProcess
from tests.standins import pubsub_wire
from tests.standins.pubsub import PubSubStandIn
from workers.runtime import build_processor
from workers.tasks import batch_sender

TOPIC = f"projects/{PROJECT}/topics/load"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/load"
PROBE_PREFIX = "lwprobe-"
TICK_S = 0.02  # the load is injected in slices this long
POOL_SIZE = 20_000  # distinct entry bodies; each sent one gets a fresh insert id and time
STREAMS = 20  # each corpus service runs as this many / 5 replicas (distinct streams)
POSTGRES = "Postgres (server processes of the database)"
WARM_UP = 4  # batches the workers alone run before they are timed
RECORDED = "SELECT coalesce(sum(entries), 0) FROM processed_batches"  # entries recorded


@dataclass(frozen=True)
class Load:
    rate: int
    seconds: float
    probes_per_s: float
    limits: BatchLimits


@dataclass
class Published:
    """What the load generator sent: counts, probe publish times, the first entries."""

    entries: int = 0
    probes: dict[str, datetime] = field(default_factory=dict)  # insert id -> publish time
    sample: list[bytes] = field(default_factory=list)  # for the in-process baseline
    finished: float = 0.0  # time.time() when the last slice was published


def pool(seed: int) -> list[tuple[bytes, bytes]]:
    """Entry bodies split where the insert id and timestamp go (filled in at publish)."""
    rng = random.Random(seed)
    services = list(SERVICES)
    bodies = []
    for n in range(POOL_SIZE):
        service = services[n % len(services)]
        entry = _entry(rng, service, 0, SERVICES[service][3](rng))
        replica(entry, f"{service}-{n // len(services) % (STREAMS // len(services))}")
        entry.pop("receiveTimestamp")
        entry["insertId"], entry["timestamp"] = "@ID@", "@TS@"
        head, tail = json.dumps(entry).encode().split(b'"@TS@"')
        bodies.append((head, tail))
    return bodies


def replica(entry: dict[str, Any], name: str) -> None:
    """Renames the entry's service, so that each replica of a service is a stream."""
    labels = entry["resource"]["labels"]
    for key in ("service_name", "container_name"):
        if key in labels:
            labels[key] = name
    entry["labels"]["compute.googleapis.com/resource_name"] = name


def probe_body(insert_id: str, stream: int) -> tuple[bytes, bytes]:
    entry = {
        "insertId": insert_id,
        "timestamp": "@TS@",
        "severity": "ERROR",
        "textPayload": f"java.lang.OutOfMemoryError: Java heap space ({insert_id})",
        "resource": {"type": "k8s_container",
                     "labels": {"project_id": PROJECT, "container_name": f"inventory-{stream}",
                                "namespace_name": "shop", "cluster_name": "prod-1",
                                "pod_name": "inventory-7c9f6d5b8-4xkqz"}},
        "logName": f"projects/{PROJECT}/logs/syslog",
    }
    head, tail = json.dumps(entry).encode().split(b'"@TS@"')
    return head, tail


def rfc3339(ns: int) -> bytes:
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{rest:09d}Z".encode()


class LoadGenerator:
    """Publishes `rate` entries a second into the stand-in's topic, in slices of TICK_S.

    It hands the messages, encoded, to the stand-in's store directly (the Publish RPC's
    own work), so the load costs the 2-core machine what a sink's publishing would: nothing.
    """

    def __init__(self, server: PubSubStandIn, load: Load, sample_size: int, seed: int) -> None:
        self._server = server
        self._load = load
        self._pool = pool(seed)
        self._sample_size = sample_size
        self._rng = random.Random(seed + 1)
        self.published = Published()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        sent = probes = 0
        while (elapsed := time.monotonic() - started) < self._load.seconds:
            due = int(elapsed * self._load.rate) - sent
            probes_due = int(elapsed * self._load.probes_per_s) - probes
            if due > 0:
                self._publish(due, probes_due)
                sent += due
                probes += max(0, probes_due)
            time.sleep(TICK_S)
        self.published.finished = time.time()

    def _publish(self, count: int, probes: int) -> None:
        stamp = b'"' + rfc3339(time.time_ns()) + b'"'
        datas, probe_ids = slice_bodies(self._pool, self._rng, count, probes, stamp)
        messages = pubsub_wire.messages(datas, {TIMESTAMP_ATTRIBUTE: stamp[1:-1].decode()})
        _, published_at = self._server.store.publish_encoded(TOPIC, messages)
        for probe in probe_ids:
            self.published.probes[probe] = published_at
        self.published.entries += len(messages)
        room = self._sample_size - len(self.published.sample)
        if room > 0:
            self.published.sample.extend(datas[:room])


def slice_bodies(bodies: list[tuple[bytes, bytes]], rng: random.Random, count: int,
                 probes: int, stamp: bytes) -> tuple[list[bytes], list[str]]:
    """One slice of the load: `count` entries drawn from `bodies` and `probes` probes, each
    with a fresh insert id and the time `stamp`; also the probes' insert ids."""
    chosen = [bodies[rng.randrange(POOL_SIZE)] for _ in range(count)]
    probe_ids = [f"{PROBE_PREFIX}{uuid.uuid4().hex}" for _ in range(max(0, probes))]
    chosen += [probe_body(p, n % (STREAMS // 5)) for n, p in enumerate(probe_ids)]
    # An entry's insert id: a random prefix of the slice's own and the entry's number in it
    # (32 hex digits, as a uuid's; a uuid4 each, one system call each, cost more than the rest).
    prefix = uuid.uuid4().hex[:24].encode()
    datas = [head.replace(b"@ID@", b"%s%08x" % (prefix, n), 1) + stamp + tail
             for n, (head, tail) in enumerate(chosen[:count])]
    datas += [head + stamp + tail for head, tail in chosen[count:]]
    return datas, probe_ids


def planned_batches(load: Load, entries: int, seed: int) -> list[Batch]:
    """The baseline's batches, known before the fleet runs: the load's first `entries`
    entries (the same bodies and probes as the generator's), arriving in slices of TICK_S
    at the offered rate on a simulated clock, cut by a `Batcher` with the same limits as
    the ingest's. Batches still open when the entries run out are left out."""
    bodies, rng = pool(seed), random.Random(seed + 1)
    batcher, batches = Batcher(load.limits), []
    started_ns, sent, probes, tick = time.time_ns(), 0, 0, 0
    while sent < entries:
        tick += 1
        elapsed = tick * TICK_S
        due = min(int(elapsed * load.rate) - sent, entries - sent)
        probes_due = int(elapsed * load.probes_per_s) - probes
        stamp = b'"' + rfc3339(started_ns + int(elapsed * 1e9)) + b'"'
        datas, _ = slice_bodies(bodies, rng, due, probes_due, stamp)
        sent, probes = sent + due, probes + max(0, probes_due)
        for data in datas:
            parsed = parse_pubsub_message(data, {}, "", None)
            if isinstance(parsed, LogEntry):
                batches += batcher.add(parsed, elapsed)
        batches += batcher.due(elapsed)
    return batches


@contextmanager
def workers_of(workers: int, limits: BatchLimits, concurrency: int
               ) -> Iterator[tuple[FleetConfig, Celery, list[WorkerProcess]]]:
    """A migrated database, a Redis namespace, an app on it and ready workers."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_pg_database())
        migrations.upgrade(url)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        fleet = FleetConfig(url, f"lwbench-{uuid.uuid4().hex[:12]}:", workdir)
        stack.callback(fleet.drop_redis_keys)
        app = fleet.app()
        stack.callback(app.close)
        env = limits_env(limits)
        started = []
        for n in range(workers):
            worker = WorkerProcess(fleet, f"bench{n}", concurrency=concurrency, env=env)
            stack.callback(worker.stop)
            started.append(worker)
        for worker in started:
            worker.wait_ready(app)
        yield fleet, app, started


@contextmanager
def fleet_of(workers: int, limits: BatchLimits, concurrency: int
             ) -> Iterator[tuple[FleetConfig, PubSubStandIn, list[WorkerProcess]]]:
    """Ready workers, and the Pub/Sub stand-in with the topic and subscription."""
    with ExitStack() as stack:
        fleet, _, started = stack.enter_context(workers_of(workers, limits, concurrency))
        server = stack.enter_context(PubSubStandIn(max_workers=8, chunk_size=500))
        os.environ["PUBSUB_EMULATOR_HOST"] = server.host
        with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as admin:
            publisher.create_topic(name=TOPIC)
            admin.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=60)
        yield fleet, server, started


def limits_env(limits: BatchLimits) -> dict[str, str]:
    return {
        "LOGWARDEN_BATCH__MAX_ENTRIES": str(limits.max_entries),
        "LOGWARDEN_BATCH__MAX_WAIT_S": str(limits.max_wait_s),
        "LOGWARDEN_BATCH__MAX_SPAN_S": str(limits.max_span_s),
        "LOGWARDEN_BATCH__MAX_BYTES": str(limits.max_bytes),
    }


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process in process group `group`."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])
    return total / tick


def recorded_entries(database_url: str) -> int:
    return int(query(database_url, RECORDED)[0][0])


def probe_latencies(database_url: str, probes: dict[str, datetime]) -> dict[str, float]:
    """Seconds from each probe's publish until its batch's anomaly row existed."""
    rows = query(
        database_url,
        "SELECT o.insert_key, min(a.created_at) FROM entry_outcomes o "
        "JOIN anomalies a ON a.batch_id = o.batch_id "
        "WHERE o.insert_key LIKE :probe GROUP BY o.insert_key",
        probe=f"%{PROBE_PREFIX}%",
    )
    found = {}
    for key, created in rows:
        probe = PROBE_PREFIX + key.split(PROBE_PREFIX, 1)[1][:32]
        if probe in probes:
            found[probe] = (created - probes[probe]).total_seconds()
    return found


@dataclass
class FleetRun:
    published: Published
    load_s: float
    recorded_during: int
    backlog_at_end: int
    drain_s: float | None
    latencies: dict[str, float]
    cpu: dict[str, float]  # CPU seconds from the load's start to the end of the drain
    recorded_by_then: int  # entries recorded by the end of the drain
    batches: list[Batch]  # the fleet's own batches of the sample, in the order recorded
    recorded_batches: int
    postgres: PostgresActivity  # during the run, in the fleet's database
    redis: RedisCounts | None  # with --count
    message_bytes: list[int]  # of the sample's batches' detect messages


def run_fleet(load: Load, workers: int, concurrency: int, drain_timeout: float,
              sample_size: int, seed: int, count: bool) -> FleetRun:
    with fleet_of(workers, load.limits, concurrency) as (fleet, server, started):
        ingest = CommandProcess(fleet, "ingest", ["ingest", "--subscription", SUBSCRIPTION],
                                {"PUBSUB_EMULATOR_HOST": server.host, **limits_env(load.limits)})
        wait_until(lambda: server.open_streams() > 0 or not ingest.alive(), 60, "the ingest")
        ingest.check_alive()
        generator = LoadGenerator(server, load, sample_size, seed)
        pg_before = postgres_activity(fleet.database_url)
        backends_before = backend_cpu(fleet.database_url)
        cpu_before = _cpu(ingest, started)
        monitor: AbstractContextManager[RedisMonitor | None] = (
            RedisMonitor(fleet.prefix) if count else nullcontext())
        with monitor as watching:
            started_at = time.time()
            generator.start()
            generator.join()
            load_s = time.time() - started_at
            published = generator.published
            recorded = recorded_entries(fleet.database_url)
            drain_s = _drain(fleet.database_url, published.entries, drain_timeout)
            cpu_after = _cpu(ingest, started)
            cpu_after[POSTGRES] = backend_cpu_since(fleet.database_url, backends_before)
            recorded_by_then = recorded_entries(fleet.database_url)
            time.sleep(1.0)  # the statistics collector and MONITOR catch up
        pg_after = postgres_activity(fleet.database_url)
        latencies = probe_latencies(fleet.database_url, published.probes)
        ingest.stop()
        batches = fleet_batches(fleet.database_url, published.sample)
        (recorded_batches,) = query(fleet.database_url, "SELECT count(*) FROM processed_batches")[0]
        message_bytes = broker_message_bytes(fleet, batches)
    cpu = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
    activity = PostgresActivity(*(a - b for a, b in zip(vars(pg_after).values(),
                                                         vars(pg_before).values(), strict=True)))
    return FleetRun(published, load_s, recorded, published.entries - recorded, drain_s,
                    latencies, cpu, recorded_by_then, batches, int(recorded_batches), activity,
                    watching.counts if watching else None, message_bytes)


@dataclass(frozen=True)
class QueuedRun:
    """The workers alone on the planned batches: no Pub/Sub, no ingest running."""

    rate: float  # entries/s, from the first send until all were recorded
    entries: int
    cpu_per_1000: float  # the worker processes'
    postgres_cpu_per_1000: float


def run_queued(batches: list[Batch], workers: int, concurrency: int,
               limits: BatchLimits) -> QueuedRun:
    """Sends the planned batches to the detect queue with the ingest's own sender, as fast as
    it sends, and times the workers until Postgres holds them all. The first WARM_UP
    batches go first and are waited for: the pool processes' first connections and
    imports are not the rate (the in-process baseline leaves out its first batch alike)."""
    warm, timed = batches[:WARM_UP], batches[WARM_UP:]
    with workers_of(workers, limits, concurrency) as (fleet, app, started), \
            make_engine(fleet.database_url).connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")

        def recorded() -> int:  # on one connection: read every 10 ms while timed
            return int(conn.execute(text(RECORDED)).scalar_one())

        send = batch_sender(app)
        for batch in warm:
            send(batch)
        warm_entries = sum(len(b.entries) for b in warm)
        wait_until(lambda: recorded() >= warm_entries, 60, "the warm-up batches")
        backends_before = backend_cpu(fleet.database_url)
        cpu_before = workers_cpu(started)
        started_at = time.perf_counter()
        for batch in timed:
            send(batch)
        total = warm_entries + sum(len(b.entries) for b in timed)
        wait_until(lambda: recorded() >= total, 300, "the queued batches", every_s=0.01,
                   state=lambda: f"{recorded():,} of {total:,} entries recorded")
        elapsed = time.perf_counter() - started_at
        cpu = workers_cpu(started) - cpu_before
        server_cpu = backend_cpu_since(fleet.database_url, backends_before)
    entries = total - warm_entries
    return QueuedRun(entries / elapsed, entries, cpu / entries * 1000,
                     server_cpu / entries * 1000)


def _cpu(ingest: CommandProcess, workers: list[WorkerProcess]) -> dict[str, float]:
    times = os.times()
    return {
        "stand-in and load (this process)": times.user + times.system,
        "ingest": cpu_seconds(ingest.process.pid),
        "workers": workers_cpu(workers),
    }


def workers_cpu(workers: list[WorkerProcess]) -> float:
    """CPU seconds so far of the worker processes, each with its pool."""
    return sum(cpu_seconds(w.process.pid) for w in workers)


def _drain(database_url: str, published: int, timeout: float) -> float | None:
    """Seconds until every published entry is recorded; None if not within `timeout`."""
    started = time.monotonic()
    try:
        wait_until(lambda: recorded_entries(database_url) >= published, timeout, "the backlog")
    except AssertionError:
        return None
    return time.monotonic() - started


def fleet_batches(database_url: str, sample: list[bytes]) -> list[Batch]:
    """The batches the fleet made of the sample's entries (those wholly in the sample),
    in the order it recorded them: the baseline runs exactly these."""
    parsed = (parse_pubsub_message(data, {}, "", None) for data in sample)
    entries = {e.insert_key: e for e in parsed if isinstance(e, LogEntry)}
    rows = query(
        database_url,
        "SELECT o.batch_id, o.insert_key, b.entries FROM entry_outcomes o "
        "JOIN processed_batches b ON b.batch_id = o.batch_id "
        "WHERE o.insert_key = ANY(:keys) ORDER BY b.created_at, o.created_at",
        keys=list(entries),
    )
    grouped: dict[str, list[LogEntry]] = {}
    sizes: dict[str, int] = {}
    for batch_id, insert_key, size in rows:
        grouped.setdefault(batch_id, []).append(entries[insert_key])
        sizes[batch_id] = size
    return [Batch(members[0].stream_key, tuple(members)) for batch_id, members
            in grouped.items() if len(members) == sizes[batch_id]]


@dataclass(frozen=True)
class Baseline:
    rate: float  # entries/s, wall clock
    cpu_per_1000: float  # CPU seconds per 1,000 entries
    postgres_cpu_per_1000: float  # of the server processes serving its database
    batches: int
    statements: StatementCounts  # over the timed batches
    entries: int  # in the timed batches

    @property
    def entries_per_batch(self) -> float:
        return self.entries / max(1, self.batches)


@dataclass(frozen=True)
class Baselines:
    """The same planned batches in-process before and after the fleet (each on a new
    database), and the fleet's own batches of the sample after it, for reference."""

    before: Baseline
    after: Baseline
    own: Baseline | None
    load: tuple[float, float]  # 1-minute load average as each of the two began

    @property
    def rate(self) -> float:
        """The ratio's denominator: the mean of the two runs' rates."""
        return (self.before.rate + self.after.rate) / 2

    @property
    def cpu_per_1000(self) -> float:
        return (self.before.cpu_per_1000 + self.after.cpu_per_1000) / 2

    @property
    def spread(self) -> float:
        """How far apart the two runs are, as a share of their mean rate."""
        return abs(self.after.rate - self.before.rate) / self.rate


def in_process_rate(batches: list[Batch]) -> Baseline:
    """Baseline: the fleet's batches through one BatchProcessor here, on Postgres."""
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        store = Store(make_engine(url))
        settings = FleetConfig(url, "unused:", Path(tempfile.gettempdir())).settings()
        processor = build_processor(settings, InMemoryStateStore(), store)
        processor.process(batches[0])  # imports and first connections are not the rate
        backends_before = backend_cpu(url)
        with counting_statements(store.engine) as statements:
            cpu_started, started = time.process_time(), time.perf_counter()
            for batch in batches[1:]:
                processor.process(batch)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        server_cpu = backend_cpu_since(url, backends_before)
        store.close()
    counted = sum(len(b.entries) for b in batches[1:])
    return Baseline(counted / elapsed, cpu / counted * 1000, server_cpu / counted * 1000,
                    len(batches) - 1, statements, counted)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(load: Load, workers: int, concurrency: int, run: FleetRun | None,
           queued: QueuedRun, baselines: Baselines) -> None:
    limits = load.limits
    offered = ("no load offered: the workers alone" if run is None else
               f"offered {load.rate:,} entries/s for {load.seconds:.0f} s, published "
               f"{run.published.entries / run.load_s:,.0f}/s "
               f"({run.published.entries:,} entries, {len(run.published.probes)} probes)")
    print(f"{offered}; {os.cpu_count()} cores; {workers} worker process(es) x concurrency "
          f"{concurrency}; batches of <= {limits.max_entries} entries / {limits.max_wait_s} s "
          f"wait; load average {baselines.load[0]:.1f} before, {baselines.load[1]:.1f} after\n")
    report_baselines(baselines, run)
    label = "workers alone, the planned batches queued"
    print(f"{label:<52}{queued.rate:>10,.0f}{queued.rate / baselines.rate:>14.2f}"
          f"{queued.cpu_per_1000:>13.3f}  (their Postgres {queued.postgres_cpu_per_1000:.3f})")
    if run is not None:
        report_fleet(load, run, baselines)


def report_fleet(load: Load, run: FleetRun, baselines: Baselines) -> None:
    sustained = run.recorded_during / run.load_s
    limits = load.limits
    label = "fleet, sustained while the load ran"
    print(f"{label:<52}{sustained:>10,.0f}{sustained / baselines.rate:>14.2f}")
    drained = "not within the timeout" if run.drain_s is None else f"cleared in {run.drain_s:.1f} s"
    kept_up = "yes" if run.backlog_at_end <= load.rate * limits.max_wait_s * 2 else "no"
    if kept_up == "no" and run.drain_s:
        # Its capacity with nothing published meanwhile: the stand-in only serves the pulls.
        draining = run.backlog_at_end / run.drain_s
        label = "fleet, clearing its backlog once the load stopped"
        print(f"{label:<52}{draining:>10,.0f}{draining / baselines.rate:>14.2f}")
    print(f"\nkept up: {kept_up} - backlog when the load stopped {run.backlog_at_end:,} entries "
          f"({run.backlog_at_end / load.rate:.1f} s of load), {drained}")
    waits = list(run.latencies.values())
    missing = len(run.published.probes) - len(waits)
    if waits:
        print(f"publish->anomaly over {len(waits)} probes"
              f"{f' ({missing} never stored)' if missing else ''}: "
              f"p50 {statistics.median(waits):.2f} s, p99 {percentile(waits, 0.99):.2f} s, "
              f"max {max(waits):.2f} s")
    report_cpu(run, baselines.cpu_per_1000, baselines.after.batches)
    print(f"  (in-process baselines' Postgres server processes: "
          f"{baselines.before.postgres_cpu_per_1000:.3f} before, "
          f"{baselines.after.postgres_cpu_per_1000:.3f} after)")
    report_per_batch(run, baselines.after)


def report_baselines(baselines: Baselines, run: FleetRun | None) -> None:
    """The two in-process runs, their mean (the denominator) and spread, the reference."""
    print(f"{'':<52}{'entries/s':>10}{'x in-process':>14}{'CPU s/1,000':>13}")
    rows = [("in-process, before the fleet", baselines.before),
            ("in-process, after the fleet", baselines.after)]
    for label, base in rows:
        print(f"{label:<52}{base.rate:>10,.0f}{base.rate / baselines.rate:>14.2f}"
              f"{base.cpu_per_1000:>13.3f}")
    print(f"{'in-process, mean of the two (the baseline)':<52}{baselines.rate:>10,.0f}"
          f"{1:>14.2f}{baselines.cpu_per_1000:>13.3f}")
    own = "" if run is None else (
        f", {sum(len(b.entries) for b in run.batches) / max(1, len(run.batches)):.0f} "
        "a batch of the fleet's own in the sample")
    print(f"  spread between the two: {baselines.spread:.0%} of the mean; "
          f"{baselines.after.entries_per_batch:.0f} entries a planned batch{own}")
    if baselines.own is not None:
        label = "(reference: the fleet's own batches, after)"
        print(f"{label:<52}{baselines.own.rate:>10,.0f}"
              f"{baselines.own.rate / baselines.rate:>14.2f}{baselines.own.cpu_per_1000:>13.3f}")


def report_cpu(run: FleetRun, base_cpu: float, base_batches: int) -> None:
    recorded = max(1, run.recorded_by_then)
    print(f"\nCPU s per 1,000 entries recorded (in-process baseline {base_cpu:.3f} over "
          f"{base_batches} batches):")
    for part, seconds in run.cpu.items():
        share = seconds / recorded * 1000
        print(f"  {part:<36}{share:>8.3f}{share / base_cpu:>8.2f} x baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10_000, help="entries/s offered")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes each")
    parser.add_argument("--probes-per-s", type=float, default=2.0)
    parser.add_argument("--batch-entries", type=int, default=500)
    parser.add_argument("--batch-wait", type=float, default=1.0, help="seconds")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument("--baseline-entries", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers-alone", action="store_true",
                        help="time only the workers on the queued planned batches")
    parser.add_argument("--count", action="store_true",
                        help="count Redis commands per batch (MONITOR: slows Redis)")
    args = parser.parse_args()
    limits = BatchLimits(max_entries=args.batch_entries, max_wait_s=args.batch_wait)
    load = Load(args.rate, args.seconds, args.probes_per_s, limits)
    planned = planned_batches(load, args.baseline_entries, args.seed)
    load_before = os.getloadavg()[0]
    before = in_process_rate(planned)
    queued = run_queued(planned, args.workers, args.concurrency, limits)
    run = None if args.workers_alone else run_fleet(
        load, args.workers, args.concurrency, args.drain_timeout, args.baseline_entries,
        args.seed, args.count)
    load_after = os.getloadavg()[0]
    after = in_process_rate(planned)
    own = in_process_rate(run.batches) if run is not None and len(run.batches) > 1 else None
    report(load, args.workers, args.concurrency, run, queued,
           Baselines(before, after, own, (load_before, load_after)))


def report_per_batch(run: FleetRun, baseline: Baseline) -> None:
    batches = max(1, run.recorded_batches)
    entries = run.published.entries / batches
    print(f"\nper batch ({batches:,} batches recorded, {entries:,.0f} entries each on average):")
    pg = run.postgres
    print(f"  Postgres, fleet database: {pg.transactions / batches:.1f} transactions "
          f"committed, {pg.rollbacks / batches:.1f} rolled back, "
          f"{pg.rows_written / batches:,.0f} rows written, {pg.rows_read / batches:,.0f} rows read")
    st, timed = baseline.statements, max(1, baseline.batches)
    verbs = ", ".join(f"{verb} {n / timed:.1f}" for verb, n in st.by_verb.most_common())
    print(f"  Postgres statements (baseline's Store calls): {st.statements / timed:.1f} "
          f"({verbs}) in {st.executions / timed:.1f} driver calls, "
          f"{st.checkouts / timed:.1f} pool checkouts, {st.pings / timed:.1f} pings")
    if run.message_bytes:
        sizes = run.message_bytes
        print(f"  broker: {statistics.mean(sizes):,.0f} bytes per detect message "
              f"({statistics.mean(sizes) / entries:,.0f} per entry)")
    if run.redis is not None:
        for part, n in run.redis.per_part().items():
            names = ", ".join(f"{name} {k / batches:.2f}"
                              for name, k in run.redis.names(part).most_common(8))
            print(f"  Redis, {part}: {n / batches:.2f} commands ({names})")


if __name__ == "__main__":
    main()
