"""Benchmark: what comparing the ledger's ids byte by byte saves Postgres.

    python -m tests.benchmarks.ledger_collation [--entries 500] [--batches 100] [--rounds 3]

Needs Postgres on 127.0.0.1 (as the tests do). Each batch does a worker's ledger work in
the database: the known-entries read of its delivery ids and insert keys, then the insert
of its outcome rows (`pipeline.storage.accounting`'s two statements), ids of the form the
service writes. It runs on four new databases: created with the server's default
collation and with ICU's en-US (as managed databases often are), each migrated to the
revision before the ids were given collation "C" (0009) and to the head. The four take
turns in rounds, in an order that turns each round. Printed: the Postgres server's CPU ms
per batch (its processes' time from /proc), and each head's ratio to its 0009.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack, closing
from datetime import UTC, datetime
from itertools import count

import psycopg

import migrations
from pipeline.storage import accounting, make_engine
from tests.benchmarks.fleet_counts import backend_cpu, backend_cpu_since
from tests.benchmarks.outcome_arrays import rounds_parser
from tests.conftest import throwaway_pg_database

LOCALES = {"server default": None, "ICU en-US": "en-US"}
REVISIONS = {"0009": "0009_outcomes_age_postgres_only", "head": "head"}


def batch(entries: int, serial: count[int]) -> tuple[list[str], list[str], list[str]]:
    """Delivery ids, outcomes and insert keys (time first, as the service writes them)."""
    deliveries = [f"projects/acme/subscriptions/logs:{uuid.uuid4().int % 10**16}"
                  for _ in range(entries)]
    keys = [f"{1_793_000_000_000_000_000 + 1000 * next(serial)}:acme-prod:{uuid.uuid4().hex[:16]}"
            for _ in range(entries)]
    return deliveries, ["processed"] * entries, keys


def run(conn: psycopg.Connection, url: str, batches: int, entries: int,
        serial: count[int]) -> float:
    """The server's CPU seconds for `batches` batches (`url`: the database's)."""
    work = [batch(entries, serial) for _ in range(batches)]
    before = backend_cpu(url)
    for deliveries, outcomes, keys in work:
        with conn.cursor() as cursor:
            cursor.execute(accounting._KNOWN_ARRAYS, (deliveries, keys), prepare=False)
            cursor.fetchall()
            cursor.execute(accounting._INSERT_ARRAYS, (uuid.uuid4().hex, datetime.now(UTC),
                                                       deliveries, outcomes, keys))
        conn.commit()
    return backend_cpu_since(url, before)


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.set_defaults(batches=100)
    args = parser.parse_args()
    ways = [(locale, revision) for locale in LOCALES for revision in REVISIONS]
    spent = dict.fromkeys(ways, 0.0)
    with ExitStack() as stack:
        databases = {}
        for locale, revision in ways:
            url = stack.enter_context(throwaway_pg_database(LOCALES[locale]))
            migrations.upgrade(url, REVISIONS[revision])
            engine = make_engine(url)
            stack.callback(engine.dispose)
            raw = stack.enter_context(closing(engine.raw_connection()))
            conn = raw.driver_connection
            assert isinstance(conn, psycopg.Connection)
            serial = count()
            run(conn, url, 10, args.entries, serial)  # first plans and pages
            databases[locale, revision] = (conn, url, serial)
        for n in range(args.rounds):
            for way in ways[n % len(ways):] + ways[: n % len(ways)]:
                conn, url, serial = databases[way]
                spent[way] += run(conn, url, args.batches, args.entries, serial)
    batches = args.rounds * args.batches
    print(f"{batches:,} batches of {args.entries} entries each way, in {args.rounds} rounds")
    print("| database collation | ids compared by | server CPU ms a batch | head / 0009 |")
    print("| --- | --- | ---: | ---: |")
    for locale, revision in ways:
        ms = 1000 * spent[locale, revision] / batches
        ratio = spent[locale, revision] / spent[locale, "0009"]
        ids = "the database's collation (0009)" if revision == "0009" else 'collation "C" (head)'
        print(f"| {locale} | {ids} | {ms:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
