"""Benchmark: a batch's outcome rows on Postgres, arrays sent as text against binary.

    python -m tests.benchmarks.outcome_arrays [--entries 500] [--batches 200] [--rounds 3]

Needs Postgres on 127.0.0.1 (as the tests do). Each batch does what a worker does for it
in the database's ledger: the known-entries read of its delivery ids and insert keys,
then the insert of its outcome rows, the two statements of `pipeline.storage.accounting`.
They run with their arrays sent in text format (`%t`, what psycopg chose for them in the
fleet's workers before) and in binary (`%b`, what they are sent in now), alternating in
rounds on one new database (each way first in every other round, as the table grows),
each batch of new ids. Printed per way: the client's CPU ms per batch, the Postgres
server's, and the ratios.
"""

from __future__ import annotations

import argparse
import time
import uuid
from contextlib import closing
from datetime import UTC, datetime

import psycopg

import migrations
from pipeline.storage import accounting, make_engine
from tests.benchmarks.fleet_counts import backend_cpu, backend_cpu_since
from tests.conftest import throwaway_pg_database

WAYS = {
    "text": (accounting._KNOWN_ARRAYS.replace("%b", "%t"),
             accounting._INSERT_ARRAYS.replace("%b", "%t")),
    "binary": (accounting._KNOWN_ARRAYS, accounting._INSERT_ARRAYS),
}


def batch(entries: int) -> tuple[list[str], list[str], list[str | None]]:
    """Delivery ids, outcomes and insert keys as the ingest makes them; a fifth are
    duplicates, without an insert key."""
    deliveries = [f"{uuid.uuid4().int % 10**16}" for _ in range(entries)]
    keys: list[str | None] = [
        None if i % 5 == 0 else f"projects/acme/logs/stdout|{uuid.uuid4().hex[:16]}"
        for i in range(entries)]
    outcomes = ["duplicate" if k is None else "processed" for k in keys]
    return deliveries, outcomes, keys


def run(conn: psycopg.Connection, url: str, way: str, batches: int, entries: int
        ) -> tuple[float, float]:
    """Client and server CPU seconds for `batches` batches the `way` way (`url`: the
    database's, for its server processes)."""
    known, insert = WAYS[way]
    work = [batch(entries) for _ in range(batches)]
    server_before = backend_cpu(url)
    started = time.process_time()
    for deliveries, outcomes, keys in work:
        with conn.cursor() as cursor:
            cursor.execute(known, (deliveries, [k for k in keys if k is not None]), prepare=False)
            cursor.fetchall()
            cursor.execute(insert, (uuid.uuid4().hex, datetime.now(UTC), deliveries,
                                    outcomes, keys))
        conn.commit()
    return time.process_time() - started, backend_cpu_since(url, server_before)


def rounds_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options of a benchmark that records batches in rounds, each way in turn."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=500, help="entries a batch")
    parser.add_argument("--batches", type=int, default=200, help="batches a round, each way")
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def main() -> None:
    args = rounds_parser(__doc__).parse_args()
    totals = {way: [0.0, 0.0] for way in WAYS}
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        engine = make_engine(url)  # the connection a worker's store makes
        with closing(engine.raw_connection()) as raw:
            conn = raw.driver_connection
            assert isinstance(conn, psycopg.Connection)
            run(conn, url, "binary", 10, args.entries)  # first connections, the first plans
            for n in range(args.rounds):  # each way first in every other round
                for way in sorted(WAYS, reverse=bool(n % 2)):
                    client, server = run(conn, url, way, args.batches, args.entries)
                    totals[way][0] += client
                    totals[way][1] += server
        engine.dispose()
    count = args.rounds * args.batches
    print(f"{count:,} batches of {args.entries} entries each way, in {args.rounds} rounds")
    print("| arrays sent as | client CPU ms a batch | server CPU ms a batch |")
    print("| --- | ---: | ---: |")
    for way, (client, server) in totals.items():
        print(f"| {way} | {client / count * 1000:.2f} | {server / count * 1000:.2f} |")
    text, binary = totals["text"], totals["binary"]
    print(f"binary / text: client {binary[0] / text[0]:.2f}x, server {binary[1] / text[1]:.2f}x")


if __name__ == "__main__":
    main()
