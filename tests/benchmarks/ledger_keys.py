"""Benchmark: recording batches with insert keys led by the entry's time, against keys of
project and insertId alone, in one run.

    python -m tests.benchmarks.ledger_keys [--batches 200] [--rounds 3] [--entries 500]
        [--only sqlite|postgres]

Needs Postgres on 127.0.0.1 (as the tests do) for its Postgres half. Each batch does
what a batch does in the database's ledger, through the product's `Store`: the
known-entries read of its delivery ids and insert keys, then `record_batch` with one
outcome row per entry. The entries are those of a busy stream (`LogEntry`s with random
16-hex insertIds, at 10,000 a second of log time); their keys are made the two ways:
- `time first`: `LogEntry.insert_key`, `<timestamp_ns>:<project>:<insertId>`;
- `id only`: `<project>:<insertId>`, the key before it.
Each way records into its own new database (SQLite files, and Postgres databases), the
two alternating in rounds (each way first in every other round) as their tables grow.
Printed per database and way: this process's CPU ms per batch (on SQLite, the
database's work too), the Postgres server's CPU ms per batch and the write-ahead log it
wrote per batch, and the ratios of the two ways.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import text

import migrations
from pipeline.entry import LogEntry, Severity
from pipeline.storage import Store, make_engine
from pipeline.storage.records import BatchRecord, EntryOutcome, Outcome
from tests.benchmarks.fleet_counts import backend_cpu, backend_cpu_since
from tests.benchmarks.outcome_arrays import rounds_parser
from tests.conftest import throwaway_pg_database

START_NS = 1_793_000_000 * 10**9
ENTRIES_PER_S = 10_000
WAYS: dict[str, Callable[[LogEntry], str]] = {
    "time first": lambda entry: entry.insert_key,
    "id only": lambda entry: f"{entry.project}:{entry.insert_id}",
}


class Ledger:
    """One way's database and the entries it has recorded so far."""

    def __init__(self, url: str, key: Callable[[LogEntry], str], seed: int) -> None:
        migrations.upgrade(url)
        self.url, self.key = url, key
        self.store = Store(make_engine(url))
        self.rng = random.Random(seed)
        self.recorded = 0

    def record(self, batches: int, entries: int) -> tuple[float, float, int]:
        """Client CPU seconds, server CPU seconds and WAL bytes of `batches` batches."""
        work = [self._batch(entries) for _ in range(batches)]
        postgres = self.url.startswith("postgresql")
        server_before = backend_cpu(self.url) if postgres else {}
        wal_before = self._wal() if postgres else 0
        started = time.process_time()
        for record, outcomes in work:
            self.store.known_entries([o.delivery_id for o in outcomes],
                                     [o.insert_key for o in outcomes if o.insert_key])
            self.store.record_batch(record, (), (), {}, outcomes=outcomes)
        client = time.process_time() - started
        if not postgres:
            return client, 0.0, 0
        return client, backend_cpu_since(self.url, server_before), self._wal() - wal_before

    def _batch(self, entries: int) -> tuple[BatchRecord, list[EntryOutcome]]:
        first = self.recorded
        outcomes = []
        for n in range(first, first + entries):
            entry = LogEntry(insert_id=f"{self.rng.getrandbits(64):016x}",
                             timestamp_ns=START_NS + n * 10**9 // ENTRIES_PER_S,
                             severity=Severity.INFO, message="", project="acme-prod")
            outcomes.append(EntryOutcome(f"{10**15 + n}", Outcome.PROCESSED, self.key(entry)))
        self.recorded += entries
        record = BatchRecord(f"batch-{first}", "acme-prod/k8s_container/checkout", entries,
                             entries, 0, START_NS, START_NS)
        return record, outcomes

    def _wal(self) -> int:
        with self.store.engine.connect() as conn:
            lsn = conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one()
        return int(lsn)


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'ledger.db'}"


def measure(name: str, database: Callable[[], AbstractContextManager[str]],
            args: argparse.Namespace) -> None:
    totals = {way: [0.0, 0.0, 0] for way in WAYS}
    with ExitStack() as stack:
        ledgers = {way: Ledger(stack.enter_context(database()), key, seed)
                   for seed, (way, key) in enumerate(WAYS.items())}
        for ledger in ledgers.values():
            ledger.record(10, args.entries)  # first connections, the first plans
        for n in range(args.rounds):
            for way in sorted(WAYS, reverse=bool(n % 2)):
                for i, figure in enumerate(ledgers[way].record(args.batches, args.entries)):
                    totals[way][i] += figure
        for ledger in ledgers.values():
            ledger.store.engine.dispose()
    count = args.rounds * args.batches
    print(f"\n{name}: {count:,} batches of {args.entries} entries each way, "
          f"{args.rounds} rounds; each table ends with {(count + 10) * args.entries:,} rows")
    print("| keys | client CPU ms a batch | server CPU ms a batch | WAL kB a batch |")
    print("| --- | ---: | ---: | ---: |")
    for way, (client, server, wal) in totals.items():
        on_server = (f"{server / count * 1000:.2f} | {wal / count / 1024:.0f}" if wal
                     else "- | -")  # SQLite: the database's work is the client's
        print(f"| {way} | {client / count * 1000:.2f} | {on_server} |")
    new, old = totals["time first"], totals["id only"]
    ratios = [f"{label} {a / b:.2f}x" for label, a, b in
              zip(("client", "server", "WAL"), new, old, strict=True) if b]
    print("time first / id only: " + ", ".join(ratios))


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    if args.only != "postgres":
        measure("SQLite (the embedded run)", sqlite_database, args)
    if args.only != "sqlite":
        measure("Postgres (the fleet)", throwaway_pg_database, args)


if __name__ == "__main__":
    main()
