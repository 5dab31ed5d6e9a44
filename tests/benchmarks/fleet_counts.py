"""Counting what a batch costs the shared parts: Redis commands, Postgres work, broker bytes.

Used by `python -m tests.benchmarks.fleet --count`. Each count is taken where the work
lands, not estimated:
- Redis: the server's MONITOR stream, filtered to the fleet's key prefix (other users of
  the same Redis are left out), split into broker, detector state and template tree.
  Commands without a key (MULTI, EXEC) count for the part their connection last served.
- Postgres, in the fleet: `pg_stat_database` of the fleet's own database (transactions,
  rows written and read), before and after.
- Postgres, per statement: SQLAlchemy's cursor events around the in-process baseline,
  which runs the same `Store` calls a worker makes (an `executemany` counts each row:
  psycopg sends each as its own statement, pipelined), and the pool's checkouts (each
  one pings the server first).
- Broker bytes: the fleet's own batches sent through the fleet's Celery app to a scratch
  queue, and the messages' size read back from Redis.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy import Engine, event

from pipeline.batch import Batch
from tests.integration.fleet import REDIS_DB_URL, FleetConfig, query
from workers.celery_app import make_app
from workers.tasks import DETECT_TASK, encode_batch

PARTS = ("broker", "state", "templates")


@dataclass
class RedisCounts:
    commands: Counter[tuple[str, str]] = field(default_factory=Counter)  # (part, name)

    def per_part(self) -> dict[str, int]:
        totals = dict.fromkeys(PARTS, 0)
        for (part, _name), n in self.commands.items():
            totals[part] += n
        return totals

    def names(self, part: str) -> Counter[str]:
        return Counter({name: n for (p, name), n in self.commands.items() if p == part})


class RedisMonitor:
    """Counts, from MONITOR, the commands on keys under `prefix`, by part and name."""

    def __init__(self, prefix: str) -> None:
        self._markers = [(f"{prefix}broker:", "broker"), (f"{prefix}state:templates:", "templates"),
                         (f"{prefix}state:", "state")]
        self.counts = RedisCounts()
        self._stop = threading.Event()
        self._client = redis.Redis.from_url(REDIS_DB_URL, socket_timeout=0.5)
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)

    def __enter__(self) -> RedisMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()

    def _run(self) -> None:
        last_part: dict[str, str] = {}  # client port -> the part it last served
        with self._client.monitor() as monitor:
            while not self._stop.is_set():
                try:
                    seen = monitor.next_command()
                except RedisTimeout:
                    continue
                command, port = str(seen["command"]), str(seen["client_port"])
                part = next((p for marker, p in self._markers if marker in command), None)
                if part is None:
                    part = last_part.get(port) if command.split(" ", 1)[0] in {
                        "MULTI", "EXEC", "EVALSHA", "EVAL"} else None
                    if part is None:
                        continue
                last_part[port] = part
                self.counts.commands[(part, command.split(" ", 1)[0].upper())] += 1


@dataclass(frozen=True)
class PostgresActivity:
    transactions: int
    rows_written: int
    rows_read: int


def postgres_activity(database_url: str) -> PostgresActivity:
    """Totals `pg_stat_database` holds for the database itself (statistics lag by up to
    half a second: read them after a pause)."""
    ((commits, inserted, updated, deleted, returned),) = query(
        database_url,
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned "
        "FROM pg_stat_database WHERE datname = current_database()",
    )
    return PostgresActivity(int(commits), int(inserted + updated + deleted), int(returned))


@dataclass
class StatementCounts:
    executions: int = 0  # calls to the driver (an executemany is one)
    statements: int = 0  # statements the server runs (an executemany's rows each)
    checkouts: int = 0  # connections taken from the pool (each pinged first)
    by_verb: Counter[str] = field(default_factory=Counter)


@contextmanager
def counting_statements(engine: Engine) -> Iterator[StatementCounts]:
    counts = StatementCounts()

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               executemany: bool) -> None:
        rows = len(parameters) if executemany and parameters else 1
        counts.executions += 1
        counts.statements += rows
        counts.by_verb[statement.lstrip().split(" ", 1)[0].upper()] += rows

    def checkout(*_: Any) -> None:
        counts.checkouts += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine.pool, "checkout", checkout)


def broker_message_bytes(fleet: FleetConfig, batches: Sequence[Batch]) -> list[int]:
    """The size in Redis of each batch's detect message, as the fleet's app sends it."""
    scratch = FleetConfig(fleet.database_url, f"lwbytes-{uuid.uuid4().hex[:12]}:", fleet.workdir)
    app = make_app(scratch.settings())
    client = redis.Redis.from_url(REDIS_DB_URL)
    try:
        for batch in batches:
            app.send_task(DETECT_TASK, args=[encode_batch(batch)], queue="detect", retry=False)
        return [len(item) for item in client.lrange(scratch.prefix + "broker:detect", 0, -1)]
    finally:
        app.close()
        client.close()
        scratch.drop_redis_keys()
