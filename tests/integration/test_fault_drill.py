"""The fault drill: invariant 1 (nothing lost) and 2 (nothing stored twice), proven from
the outside with real processes while things break.

Pub/Sub stand-in → `logwarden ingest` (pull) and the test as Pub/Sub push → `logwarden
push`; two Celery worker processes and beat; Redis of the test's own; Postgres behind a
proxy the test cuts. A few thousand entries with duplicates and malformed messages go
in, in waves, while a worker and the ingest are SIGKILLed (ingest restarted), Redis is
restarted empty, and Postgres is unreachable for 15 s. At the end, from Postgres alone:
processed + duplicates + dead letters == published, exactly.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google.cloud import pubsub_v1
from sqlalchemy.engine import make_url

from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import MINUTE_NS, Message, build_corpus
from tests.integration.faults import RedisServer, TcpProxy
from tests.integration.fleet import (
    FleetConfig,
    WorkerProcess,
    alert_lines,
    publish,
    query,
    wait_until,
)
from tests.integration.processes import CommandProcess, PushProcess
from tests.integration.test_fleet import assert_alerts_unique
from tests.standins.pubsub import PubSubStandIn
from workers.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "drill-push-token"
OUTAGE_S = 15.0
RECORD_TIMEOUT_S = "8"  # ingest nacks, push answers 503, for a batch Redis lost


@dataclass(frozen=True)
class DrillConfig(FleetConfig):
    """A fleet on the test's own Redis, and on Postgres through the proxy."""

    redis_url: str = ""

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "LOGWARDEN_REDIS_URL": self.redis_url,
            "LOGWARDEN_BROKER_URL": self.redis_url,
            "LOGWARDEN_BATCH__MAX_ENTRIES": "200",
            "LOGWARDEN_BATCH__MAX_WAIT_S": "1",
            "LOGWARDEN_INGEST_RECORD_TIMEOUT_S": RECORD_TIMEOUT_S,
            "LOGWARDEN_PUSH_RECORD_TIMEOUT_S": RECORD_TIMEOUT_S,
        }

    def settings(self) -> Settings:
        """What the test's own Celery app needs (the processes read `env()`)."""
        env = super().env()
        return Settings.model_validate({
            "database_url": self.database_url, "redis_url": self.redis_url,
            "broker_url": self.redis_url, "broker_prefix": env["LOGWARDEN_BROKER_PREFIX"],
            "redis_prefix": env["LOGWARDEN_REDIS_PREFIX"], "channels": ["file"],
        })


def push_envelope(message: Message, message_id: str) -> dict[str, Any]:
    return {
        "message": {"data": base64.b64encode(message.data).decode(),
                    "attributes": message.attributes, "messageId": message_id},
        "subscription": "projects/acme-fleet/subscriptions/logwarden-push",
    }


def push_until_accepted(client: httpx.Client, envelope: dict[str, Any]) -> int:
    """What Pub/Sub push does: deliver again, with backoff, until answered 2xx."""
    pause, attempts = 0.5, 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        attempts += 1
        try:
            if client.post(f"/pubsub/push?token={TOKEN}", json=envelope).is_success:
                return attempts
        except httpx.HTTPError:
            pass
        time.sleep(pause)
        pause = min(4.0, pause * 2)
    raise AssertionError(f"push of {envelope['message']['messageId']} never accepted")


class Fleet:
    """The drill's processes, all started at once (then waited for) and always stopped."""

    def __init__(self, config: DrillConfig, pubsub_host: str) -> None:
        self.config = config
        self.app = config.app()
        self.ingest_env = {"PUBSUB_EMULATOR_HOST": pubsub_host}
        self.workers = [WorkerProcess(config, "w1"), WorkerProcess(config, "w2")]
        self.started = len(self.workers)
        self.restarts = 0  # workers that exited on their own and were replaced
        self.beat = CommandProcess(
            config, "beat", ["beat", "--schedule", str(config.workdir / "beat-schedule")])
        self.push = PushProcess(config, TOKEN)
        self.ingests = [self.ingest("ingest-1")]
        for worker in self.workers:
            worker.wait_ready(self.app)
        self.push.wait_ready()

    def ingest(self, name: str) -> CommandProcess:
        return CommandProcess(self.config, name, ["ingest", "--subscription", SUBSCRIPTION],
                              self.ingest_env)

    def kill_worker(self) -> None:
        """SIGKILLs the first worker (mid-whatever it was doing) and starts another."""
        self.workers.pop(0).kill()
        self.add_worker()

    def add_worker(self) -> None:
        self.started += 1
        self.workers.append(WorkerProcess(self.config, f"w{self.started}"))

    def restart_exited_workers(self, done: threading.Event) -> None:
        """What the deployment's restart policy does (compose: `restart: unless-stopped`)
        until `done`: a worker that exits on its own is replaced. Celery's Redis transport
        can exit a worker whose broker came back empty while it restored its unacked tasks.
        """
        while not done.wait(1.0):
            for worker in [w for w in self.workers if w.process.poll() is not None]:
                self.workers.remove(worker)
                self.restarts += 1
                self.add_worker()

    def stop(self) -> None:
        for process in [*self.ingests, self.push, self.beat]:
            process.stop()
        for worker in self.workers:
            worker.stop()
        self.app.close()


def test_nothing_is_lost_or_stored_twice_through_kills_a_redis_restart_and_a_postgres_outage(
    fleet: FleetConfig, pubsub: PubSubStandIn, publisher: pubsub_v1.PublisherClient
) -> None:
    corpus = build_corpus(seed=17, start_ns=time.time_ns() - 30 * MINUTE_NS, minutes=4)
    messages = list(corpus.messages)
    waves = [messages[i::4] for i in range(4)]  # each: half pulled, half pushed
    redis_server = RedisServer(fleet.workdir)
    proxy = TcpProxy(make_url(fleet.database_url).port or 5432)
    drill = DrillConfig(
        make_url(fleet.database_url).set(port=proxy.port).render_as_string(hide_password=False),
        fleet.prefix, fleet.workdir, redis_url=redis_server.url,
    )
    pool = ThreadPoolExecutor(max_workers=48)
    pushes: list[Future[int]] = []
    client = httpx.Client(timeout=90, limits=httpx.Limits(max_connections=64))
    running = Fleet(drill, pubsub.host)
    done = threading.Event()
    supervisor: threading.Thread | None = None
    client.base_url = httpx.URL(running.push.url)
    started = time.monotonic()

    def send(wave: int) -> None:
        pulled, pushed = waves[wave][0::2], waves[wave][1::2]
        publish(publisher, TOPIC, pulled)
        pushes.extend(pool.submit(push_until_accepted, client,
                                  push_envelope(m, f"push-{wave}-{i}"))
                      for i, m in enumerate(pushed))

    try:
        send(0)
        wait_until(lambda: pubsub.acked_count(SUBSCRIPTION) >= len(waves[0]) // 6, 60,
                   "the first wave to flow")
        running.kill_worker()
        running.ingests[0].kill()
        running.ingests.append(running.ingest("ingest-2"))
        supervisor = threading.Thread(target=running.restart_exited_workers, args=(done,))
        supervisor.start()
        send(1)
        restarted = running.ingests[-1].log_path
        wait_until(lambda: "ingest started" in restarted.read_text(errors="replace"), 60,
                   "the restarted ingest to pull")
        time.sleep(2)
        redis_server.restart()  # empty: queued batches and state gone
        send(2)
        time.sleep(3)
        proxy.cut()
        send(3)
        time.sleep(OUTAGE_S)
        proxy.restore()
        assert pubsub.wait_until_drained(SUBSCRIPTION, timeout=150), "pull: not all acked"
        attempts = [f.result(timeout=150) for f in pushes]
        elapsed = time.monotonic() - started
    finally:
        done.set()
        if supervisor is not None:
            supervisor.join()
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()
        running.stop()
        proxy.close()
        redis_server.kill()

    # From Postgres alone (not through the proxy): every entry is exactly one of these.
    url = fleet.database_url
    counts = dict(query(url, "SELECT outcome, count(*) FROM entry_outcomes GROUP BY 1"))
    (dead,) = query(url, "SELECT count(*) FROM dead_letters")[0]
    assert (counts.get("processed", 0), counts.get("duplicate", 0), dead) == (
        corpus.unique_valid, corpus.duplicates, corpus.malformed)
    assert counts["processed"] + counts["duplicate"] + dead == corpus.published
    (templated,) = query(url, "SELECT sum(count) FROM templates")[0]
    assert templated == corpus.unique_valid  # each processed entry mined into one, once
    assert_alerts_unique(fleet)
    sent = [(line["alert_id"], line["revision"]) for line in alert_lines(fleet.alerts_file)]
    assert len(sent) == len(set(sent))  # each message of each incident once
    audit = CommandProcess(fleet, "audit", ["audit", "--since", "1h",
                                            "--expect", str(corpus.published)])
    assert audit.process.wait(60) == 0, audit.log_path.read_text()
    # The outage was noticed once, not once per message, and the faults did bite.
    ingest_log = (fleet.workdir / "ingest-2.log").read_text(errors="replace")
    assert 1 <= ingest_log.count("database unreachable") <= 2, ingest_log[-3000:]
    assert ingest_log.count("Traceback") <= 2
    # Redelivered for a reason (a killed ingest, a lost batch, a record that came late),
    # never in a loop: a message was delivered at most a handful of times.
    assert pubsub.peak_attempts(SUBSCRIPTION) <= 5
    assert max(attempts) > 1  # some pushes were answered 503 and delivered again
    print(f"\ndrill: {corpus.published} published ({corpus.duplicates} duplicates, "
          f"{corpus.malformed} malformed), {len(pushes)} pushed with {sum(attempts)} "
          f"attempts, in {elapsed:.0f} s after start-up; processed {counts['processed']}, "
          f"duplicates {counts['duplicate']}, dead letters {dead}; a message delivered at "
          f"most {pubsub.peak_attempts(SUBSCRIPTION)} times; {running.restarts} workers "
          f"exited on their own and were replaced")
