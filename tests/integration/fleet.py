"""The fleet in a test: real Celery prefork workers as subprocesses, the Pub/Sub ingest in
a thread with the real client, Postgres and Redis on loopback.

Everything of one fleet lives in its own database and under its own Redis key prefix
(state and broker alike), so fleets never see each other and cleaning up is exact.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from google.cloud import pubsub_v1
from kombu import compression, serialization
from sqlalchemy import text

from pipeline.batch import Batch, BatchLimits
from pipeline.entry import LogEntry
from pipeline.parsing import parse_pubsub_message
from pipeline.storage import Store, make_engine
from tests.integration.corpus import Corpus, Message
from workers.celery_app import make_app, queue_depth, register_wire_format
from workers.pubsub_ingest import IngestConfig, IngestCounts, PubSubIngest
from workers.settings import Settings
from workers.tasks import DETECT_TASK, batch_sender, decode_batch

REPO = Path(__file__).resolve().parents[2]
REDIS_DB_URL = "redis://127.0.0.1:6379/11"  # this suite's db; keys still carry a prefix
VISIBILITY_TIMEOUT_S = 10  # a killed worker's batches come back after this
# Batches of at most 200 entries or a minute of log time; one waits 1 s for company.
FLEET_LIMITS = BatchLimits(max_entries=200, max_span_s=60.0, max_wait_s=1.0)


@dataclass(frozen=True)
class FleetConfig:
    """Where one fleet keeps its things."""

    database_url: str
    prefix: str  # of every Redis key, state and broker
    workdir: Path

    @property
    def alerts_file(self) -> Path:
        return self.workdir / "alerts.jsonl"

    def env(self) -> dict[str, str]:
        """LOGWARDEN_* for a worker process (and nothing inherited from ours)."""
        ours = {k: v for k, v in os.environ.items() if not k.startswith("LOGWARDEN_")}
        return {
            **ours,
            "LOGWARDEN_DATABASE_URL": self.database_url,
            "LOGWARDEN_REDIS_URL": REDIS_DB_URL,
            "LOGWARDEN_BROKER_URL": REDIS_DB_URL,
            "LOGWARDEN_REDIS_PREFIX": self.prefix + "state:",
            "LOGWARDEN_BROKER_PREFIX": self.prefix + "broker:",
            "LOGWARDEN_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "LOGWARDEN_CHANNELS": '["file"]',
            "LOGWARDEN_ALERTS_FILE": str(self.alerts_file),
            "LOGWARDEN_LOG_JSON": "false",
        }

    def settings(self) -> Settings:
        env = self.env()
        fields = {
            k.removeprefix("LOGWARDEN_").lower(): v
            for k, v in env.items()
            if k.startswith("LOGWARDEN_")
        }
        return Settings.model_validate({**fields, "channels": ["file"]})

    def app(self) -> Celery:
        return make_app(self.settings())

    def drop_redis_keys(self) -> None:
        client = redis.Redis.from_url(REDIS_DB_URL)
        for key in client.scan_iter(self.prefix + "*", count=1000):
            client.delete(key)
        client.close()


class WorkerProcess:
    """`celery -A workers.worker worker` in its own process group (so a kill takes all)."""

    def __init__(self, config: FleetConfig, name: str, queues: str = "detect,notify", *,
                 concurrency: int = 1, env: dict[str, str] | None = None,
                 include: str = "") -> None:
        self.name = f"{name}@fleet-test"
        self.log_path = config.workdir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.worker",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--pool",
            "prefork",
            "-n",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            *(["--include", include] if include else []),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env={**config.env(), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, app: Celery, timeout: float = 60) -> None:
        def answered() -> bool:
            self._check_alive()
            return bool(app.control.ping(destination=[self.name], timeout=0.5))

        wait_until(answered, timeout, f"worker {self.name} to answer a ping")

    def batches(self, app: Celery) -> tuple[set[str], set[str]]:
        """Ids of the batches this worker runs now, and of those it holds to run next."""
        # The call returns at the first reply; the timeout only matters to a worker slow to
        # answer (a loaded machine), which would otherwise look idle.
        inspect = app.control.inspect(destination=[self.name], timeout=5, limit=1)
        active = (inspect.active() or {}).get(self.name, [])
        reserved = (inspect.reserved() or {}).get(self.name, [])
        return _batch_ids(active), _batch_ids(reserved)

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the whole process group: nothing it does moves meanwhile."""
        os.killpg(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def freeze_pool(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the pool's children only: batches stop where they are, while
        the main process still answers what they hold."""
        for pid in self._pool_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def _pool_pids(self) -> list[int]:
        tasks = Path(f"/proc/{self.process.pid}/task")
        return [int(pid) for task in tasks.iterdir()
                for pid in (task / "children").read_text().split()]

    def kill(self) -> None:
        """SIGKILL to the main process and its pool children: a machine lost mid-batch."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it hangs."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"worker {self.name} exited ({self.process.returncode}):\n{tail}")


@dataclass
class IngestRunner:
    """One `PubSubIngest` with its own subscriber client, run in a thread."""

    config: FleetConfig
    subscription: str
    limits: BatchLimits = FLEET_LIMITS
    max_queue_depth: int = 20
    max_outstanding: int = 1000

    def __post_init__(self) -> None:
        app = self.config.app()
        self._subscriber = pubsub_v1.SubscriberClient()
        self._store = Store(make_engine(self.config.database_url))
        self.ingest = PubSubIngest(
            IngestConfig(
                self.subscription,
                self.limits,
                max_outstanding=self.max_outstanding,
                max_queue_depth=self.max_queue_depth,
            ),
            self._subscriber,
            self._store,
            batch_sender(app),
            queue_depth(app),
        )
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()

    @property
    def counts(self) -> IngestCounts:
        return self.ingest.counts

    def stop(self) -> IngestCounts:
        self.ingest.stop()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the ingest did not stop within 60 s"
        self._subscriber.close()
        self._store.close()
        if self._error is not None:
            raise AssertionError("the ingest failed") from self._error
        return self.ingest.counts

    def _run(self) -> None:
        try:
            self.ingest.run()
        except BaseException as error:
            self._error = error


def _batch_ids(tasks: list[dict[str, Any]]) -> set[str]:
    return {decode_batch(t["args"][0]).id for t in tasks if t["name"] == DETECT_TASK}


def publish(publisher: pubsub_v1.PublisherClient, topic: str, messages: Iterable[Message]) -> int:
    futures = [publisher.publish(topic, m.data, **m.attributes) for m in messages]
    for future in futures:
        future.result(timeout=60)
    return len(futures)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, *, steady_s: float = 0.0,
    state: Callable[[], object] | None = None, every_s: float = 0.1,
) -> None:
    """Polls every `every_s` until `condition` holds (and has held for `steady_s`); fails
    after `timeout`, saying what `state` returns then."""
    deadline = time.monotonic() + timeout
    held_since: float | None = None
    while True:
        now = time.monotonic()
        if condition():
            held_since = now if held_since is None else held_since
            if now - held_since >= steady_s:
                return
        else:
            held_since = None
        if now > deadline:
            seen = f"; {state()}" if state is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")
        time.sleep(every_s)


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def ledger(database_url: str) -> tuple[int, int, int, int]:
    """(batches, entries, processed, duplicates) summed over the batch ledger."""
    (row,) = query(
        database_url,
        "SELECT count(*), coalesce(sum(entries), 0), "
        "coalesce(sum(processed), 0), coalesce(sum(duplicates), 0) "
        "FROM processed_batches",
    )
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def alert_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def entries_of(corpus: Corpus) -> list[LogEntry]:
    """The well-formed, distinct entries of `corpus`, in order. They carry no message
    id, so each is counted by its insert id (entries of several corpora never clash)."""
    parsed = (parse_pubsub_message(m.data, m.attributes, "", None) for m in corpus.messages)
    unique = {e.insert_id: e for e in parsed if isinstance(e, LogEntry)}
    return list(unique.values())


def why_unprocessed(fleet: FleetConfig, corpus: Corpus) -> str:
    """For a failure message: the entries no recorded batch processed, and their fate."""
    processed = {
        row[0] for row in query(fleet.database_url,
                                "SELECT insert_key FROM entry_outcomes WHERE outcome = 'processed'")
    }
    missing = [e.insert_key for e in entries_of(corpus) if e.insert_key not in processed]
    return f"{len(missing)} entries never processed, e.g. {missing[:5]}"


def queued_batches(fleet: FleetConfig) -> list[Batch]:
    """The batches waiting in the broker's `detect` list, decoded from Celery's messages."""
    register_wire_format()
    broker = redis.Redis.from_url(REDIS_DB_URL)
    raw = broker.lrange(fleet.prefix + "broker:detect", 0, -1)
    broker.close()
    batches = []
    for item in raw:
        message = json.loads(item)
        body = base64.b64decode(message["body"])
        if "compression" in message["headers"]:
            body = compression.decompress(body, message["headers"]["compression"])
        args, _kwargs, _embed = serialization.loads(
            body, message["content-type"], message["content-encoding"])
        assert message["headers"]["task"] == "logwarden.detect_batch"
        batches.append(decode_batch(args[0]))
    return batches
