"""Benchmark: the CPU the Pub/Sub stand-in and the fleet's load generator spend per entry.

    python -m tests.benchmarks.standin_load [--rate 10000] [--seconds 10] [--hold 1.0]

The fleet benchmark's load (`fleet.LoadGenerator`, the same bodies and probes) goes into
the stand-in, in this process, as there; a consumer in its own process reads it with the
ingest's own StreamingPull stream (`workers.pubsub_stream.PullStream`, the same flow
control) and acks each response `--hold` seconds after it arrived, about as long as the
ingest holds a batch. No Celery, no Postgres: what is timed is this process, the
stand-in and the load, from the load's start until every entry is acked.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from google.cloud import pubsub_v1

from pipeline.batch import BatchLimits
from tests.benchmarks.fleet import SUBSCRIPTION, TOPIC, Load, LoadGenerator
from tests.standins.pubsub import PubSubStandIn

CONSUMER = """
import collections, logging, sys, threading, time
from google.cloud import pubsub_v1
from workers.pubsub_stream import PullStream

subscription, hold = sys.argv[1], float(sys.argv[2])
held = collections.deque()  # (arrived, ack ids)
cond = threading.Condition()

def deliver(received):
    with cond:
        held.append((time.monotonic(), [r.ack_id for r in received]))
        cond.notify()

stream = PullStream(pubsub_v1.SubscriberClient(), subscription, deliver,
                    max_outstanding=20_000, max_lease_s=120, log=logging.getLogger("consumer"))
stream.start()
print("ready", flush=True)
while True:
    with cond:
        while not held:
            cond.wait()
        arrived, ack_ids = held[0]
        wait = arrived + hold - time.monotonic()
        if wait <= 0:
            held.popleft()
    if wait > 0:
        time.sleep(wait)
    else:
        stream.ack(ack_ids)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10_000, help="entries/s offered")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--hold", type=float, default=1.0, help="s a response is held")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    load = Load(args.rate, args.seconds, 2.0, BatchLimits(max_entries=500, max_wait_s=1.0))
    with PubSubStandIn(max_workers=8, chunk_size=500) as server:
        os.environ["PUBSUB_EMULATOR_HOST"] = server.host
        with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as admin:
            publisher.create_topic(name=TOPIC)
            admin.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=60)
        consumer = subprocess.Popen([sys.executable, "-c", CONSUMER, SUBSCRIPTION,
                                     str(args.hold)], stdout=subprocess.PIPE, text=True)
        try:
            assert consumer.stdout is not None and consumer.stdout.readline() == "ready\n"
            generator = LoadGenerator(server, load, 0, args.seed)
            before, started = os.times(), time.monotonic()
            generator.start()
            generator.join()
            drained = server.wait_until_drained(SUBSCRIPTION, 120)
            after, elapsed = os.times(), time.monotonic() - started
        finally:
            consumer.kill()
            consumer.wait()
    entries = generator.published.entries
    cpu = (after.user + after.system) - (before.user + before.system)
    print(f"{entries:,} entries in {elapsed:.1f} s, drained: {drained}; peak outstanding "
          f"{server.peak_outstanding(SUBSCRIPTION):,}; stand-in and load CPU "
          f"{cpu / entries * 1000:.4f} s per 1,000 entries")


if __name__ == "__main__":
    main()
