"""Counting what a batch costs the shared parts: Redis commands, Postgres work, broker bytes.

Used by `python -m tests.benchmarks.fleet --count`. Each count is taken where the work
lands, not estimated:
- Redis: the server's MONITOR stream, filtered to the fleet's key prefix (other users of
  the same Redis are left out), split into broker, detector state and template tree.
  Commands without a key (MULTI, EXEC) count for the part their connection last served.
- Postgres, in the fleet: `pg_stat_database` of the fleet's own database (transactions
  committed and rolled back, rows written and read), before and after; and the CPU time
  of the server processes serving that database (the server must run on this machine).
- Postgres, per statement: SQLAlchemy's cursor events around the in-process baseline,
  which runs the same `Store` calls a worker makes (an `executemany` counts each row:
  psycopg sends each as its own statement, pipelined), the pool's checkouts, and the
  pings of the connections handed out (a round trip each, outside the cursor events).
- Broker bytes: the fleet's own batches sent through the fleet's Celery app to a scratch
  queue, and the messages' size read back from Redis.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
        while not self._stop.is_set():
            # A read that times out (nothing for 0.5 s) closes redis-py's connection.
            with self._client.monitor() as monitor:
                self._follow(monitor, last_part)

    def _follow(self, monitor: Any, last_part: dict[str, str]) -> None:
        while not self._stop.is_set():
            try:
                seen = monitor.next_command()
            except RedisTimeout:
                return
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
    transactions: int  # committed
    rollbacks: int
    rows_written: int
    rows_read: int


def postgres_activity(database_url: str) -> PostgresActivity:
    """Totals `pg_stat_database` holds for the database itself (statistics lag by up to
    half a second: read them after a pause)."""
    ((commits, rollbacks, inserted, updated, deleted, returned),) = query(
        database_url,
        "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
        "tup_returned "
        "FROM pg_stat_database WHERE datname = current_database()",
    )
    return PostgresActivity(int(commits), int(rollbacks), int(inserted + updated + deleted),
                            int(returned))


def backend_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each Postgres backend serving the database, by process id
    (the server runs on this machine; the asking connection is left out)."""
    rows = query(database_url, "SELECT pid FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return {int(pid): process_cpu(int(pid)) for (pid,) in rows}


def backend_cpu_since(database_url: str, before: dict[int, float]) -> float:
    """CPU seconds the database's live backends spent since `before` was taken."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in backend_cpu(database_url).items())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process; 0 once it is gone."""
    try:
        return stat_cpu(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0


def stat_cpu(stat: Path) -> float:
    """User + system CPU seconds in a process's or thread's `/proc/.../stat` file (OSError
    once it is gone)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class StatementCounts:
    executions: int = 0  # calls to the driver (an executemany is one)
    statements: int = 0  # statements the server runs (an executemany's rows each)
    checkouts: int = 0  # connections taken from the pool
    pings: int = 0  # of those, pinged before use
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

    dialect = engine.dialect
    ping = dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        counts.pings += 1
        return ping(dbapi_connection)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine.pool, "checkout", checkout)
    dialect.do_ping = counted_ping  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        del dialect.do_ping  # the class's own again
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
