"""Counting every delivered entry once, in the database: processed, duplicate or dead letter.

A recorded batch writes one `entry_outcomes` row per delivery it counted, in the same
transaction as its ledger row (on Postgres, all of them in one statement). The insert key
of a processed entry is unique there, so duplicates are recognised from the database
(Redis may have been restarted empty), and a delivery counted once is never counted
again, however Pub/Sub regroups its redeliveries.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from pipeline.storage.models import DEAD_LETTERS, LEDGER, OUTCOMES
from pipeline.storage.records import EntryOutcome, Outcome

_CHUNK = 1000  # ids per IN (...) list


class EntriesCountedMeanwhile(Exception):
    """Another batch counted one of these deliveries, or processed one of these insert
    ids, between this batch's check and its record. Nothing was written: process the
    batch again, and it will see them."""


def known(
    conn: Connection, delivery_ids: Collection[str], insert_keys: Collection[str]
) -> tuple[set[str], set[str]]:
    """Of these, the deliveries already counted and the insert keys already processed.

    One query a batch: the rows holding either, sorted out here. Two lookups joined by
    UNION ALL, not one OR: each half is a lookup in a unique index.
    """
    if conn.dialect.name == "postgresql":
        found = _known_as_arrays(conn, delivery_ids, insert_keys)
    else:
        found = _known_as_json(conn, delivery_ids, insert_keys)
    return _sort_out(found, delivery_ids, insert_keys)


# On SQLite each list travels as one JSON array, read by json_each, each id then looked up
# in its column's unique index: for a batch of 500, 0.6 ms instead of 1.0 ms with lists of
# 500 marks each (a thousand parameters to bind, and SQLite sorting each list into a
# B-tree of its own before the lookups). Through the driver's cursor: SQLAlchemy's work
# on a statement is a tenth of the read's.
_KNOWN_JSON = " UNION ALL ".join(
    f"SELECT o.delivery_id, o.insert_key FROM json_each(?) AS wanted "
    f"JOIN {OUTCOMES.name} AS o ON o.{column} = wanted.value"
    for column in ("delivery_id", "insert_key"))
# SQLite's json_each cuts a string at an escaped NUL: ids holding one go as lists of marks.
_ESCAPED_NUL = "\\u0000"
_ENCODE_JSON = msgspec.json.Encoder().encode


def _known_as_json(conn: Connection, delivery_ids: Collection[str],
                   insert_keys: Collection[str]) -> list[Sequence[Any]]:
    deliveries, keys = _json_array(delivery_ids), _json_array(insert_keys)
    if _ESCAPED_NUL in deliveries or _ESCAPED_NUL in keys:
        return _known_as_lists(conn, delivery_ids, insert_keys)
    with driver_cursor(conn) as cursor:
        return list(cursor.execute(_KNOWN_JSON, (deliveries, keys)).fetchall())


def _json_array(ids: Collection[str]) -> str:
    """`ids` as a JSON array for json_each, written by msgspec at about half the CPU of
    json.dumps. Characters past ASCII go as UTF-8 rather than escaped; json_each reads the
    same text out of both. A lone surrogate, which UTF-8 cannot hold, goes escaped, by
    json.dumps, as before."""
    try:
        return _ENCODE_JSON(list(ids)).decode()
    except UnicodeEncodeError:
        return json.dumps(list(ids))


def _known_as_lists(conn: Connection, delivery_ids: Collection[str],
                    insert_keys: Collection[str]) -> list[Sequence[Any]]:
    """The same read with lists of parameter marks, per thousand of each."""
    mark = _placeholder(conn)
    deliveries, keys = sorted(delivery_ids), sorted(insert_keys)
    found: list[Sequence[Any]] = []
    for start in range(0, max(len(deliveries), len(keys)), _CHUNK):
        some_deliveries = deliveries[start : start + _CHUNK]
        some_keys = keys[start : start + _CHUNK]
        sql = (f"SELECT delivery_id, insert_key FROM {OUTCOMES.name} "
               f"WHERE delivery_id IN ({_marks(mark, len(some_deliveries))}) "
               f"UNION ALL SELECT delivery_id, insert_key FROM {OUTCOMES.name} "
               f"WHERE insert_key IN ({_marks(mark, len(some_keys))})")
        found.extend(conn.exec_driver_sql(sql, (*some_deliveries, *some_keys)))
    return found


# On Postgres, one statement of constant text whatever the batch's size, so psycopg
# converts it once per process: a list of marks as long as the batch has more parameters
# than psycopg keeps a converted statement for, so it was converted again for every batch.
# The arrays travel in binary (`%b`): psycopg writes a text array's quoting and escapes
# in Python, element by element, at about 2.5 times the CPU of the binary form.
# Each id is looked up alone, in its column's unique index: a loop over the array (the
# LIMIT keeps Postgres from turning it into a join it may plan as a scan). `col = ANY(a
# batch's 500 ids)` was planned as a scan of the whole table until the table's first
# ANALYZE (autovacuum's, a minute or more into a new fleet): every batch read every row.
_LOOKUP = (f"SELECT o.delivery_id, o.insert_key FROM unnest(%b::text[]) AS wanted(id), "
           f"LATERAL (SELECT delivery_id, insert_key FROM {OUTCOMES.name} "
           "WHERE {column} = wanted.id LIMIT 1) AS o")
_KNOWN_ARRAYS = (f"{_LOOKUP.format(column='delivery_id')} "
                 f"UNION ALL {_LOOKUP.format(column='insert_key')}")


def _known_as_arrays(conn: Connection, delivery_ids: Collection[str],
                     insert_keys: Collection[str]) -> list[Sequence[Any]]:
    """Runs `_KNOWN_ARRAYS`, never as a prepared statement: Postgres plans it for every
    batch, as it did the lists of marks. A prepared statement's generic plan, chosen while
    the table was new and small, scanned the whole table for every batch once it had grown
    (a prepared read of a new table took 14 times the database's CPU)."""
    with driver_cursor(conn) as cursor:
        cursor.execute(_KNOWN_ARRAYS, (list(delivery_ids), list(insert_keys)), prepare=False)
        return list(cursor.fetchall())


def _sort_out(rows: Iterable[Sequence[Any]], delivery_ids: Collection[str],
              insert_keys: Collection[str]) -> tuple[set[str], set[str]]:
    """The deliveries counted and the insert keys processed, of the rows found: a row
    found by one of its ids may hold an other id that was not asked about."""
    counted: set[str] = set()
    processed: set[str] = set()
    for delivery_id, insert_key in rows:
        counted.add(str(delivery_id))
        if insert_key is not None:
            processed.add(str(insert_key))
    # Not `& set(ids)`: that copied both lists of ids for every batch, rows found or not.
    return counted.intersection(delivery_ids), processed.intersection(insert_keys)


def _marks(mark: str, n: int) -> str:
    """n parameter marks; `NULL` for none (`IN ()` is not SQL, `IN (NULL)` holds nothing)."""
    return ", ".join([mark] * n) if n else "NULL"


def add_outcomes(
    conn: Connection, batch_id: str, outcomes: Sequence[EntryOutcome], created_at: object,
    first_row: int | None = None,
) -> None:
    """Writes the batch's outcome rows (inside its record transaction); raises
    EntriesCountedMeanwhile when another batch got to one of them first. On SQLite,
    `first_row` is the rowid the ledger claim gave the first of them (`batches._claim`).

    Plain driver SQL: the rows share their batch and time, `created_at`, converted for the
    database once (`time_for`, as the ledger row's), not once a row as SQLAlchemy would.
    Postgres takes every row in one statement; SQLite, in-process, blocks of rows
    (`_insert_in_blocks`).
    """
    if not outcomes:
        return
    ordered = sorted(outcomes, key=_DELIVERY)  # a fixed order: no deadlock
    try:
        if conn.dialect.name == "postgresql":
            _insert_as_arrays(conn, batch_id, ordered, created_at)
        else:
            assert first_row is not None, "the ledger claim gives SQLite's rows their rowids"
            _insert_in_blocks(conn, batch_id, ordered, created_at, first_row)
    except IntegrityError as error:
        raise EntriesCountedMeanwhile(batch_id) from error


_COLUMNS = "(delivery_id, batch_id, outcome, insert_key, created_at)"
# One statement of constant text whatever the batch's size, so psycopg prepares it once per
# connection; unnest reads the arrays out in their order, which keeps the rows sorted.
# The arrays travel in binary, as `_KNOWN_ARRAYS`'s.
_INSERT_ARRAYS = (f"INSERT INTO {OUTCOMES.name} {_COLUMNS} "
                  "SELECT d, %s, o, k, %s FROM unnest(%b::text[], %b::text[], %b::text[]) "
                  "AS t(d, o, k)")


def _insert_as_arrays(conn: Connection, batch_id: str, outcomes: Sequence[EntryOutcome],
                      created_at: object) -> None:
    deliveries = [o.delivery_id for o in outcomes]
    kinds = [str(o.outcome) for o in outcomes]
    keys = [o.insert_key for o in outcomes]
    conn.exec_driver_sql(_INSERT_ARRAYS, (batch_id, created_at, deliveries, kinds, keys))


# Rows a statement on SQLite: a statement per row (an executemany) cost SQLite about as
# much again as the row itself. Blocks of `_BLOCK` rows, then the rest in blocks of its
# binary digits (64, 32, ... 1): at most seven statements more, of eight statement texts
# in all, which the driver prepares once each. (The rest went one row a statement: a batch
# of 60 rows took 1.7 times the CPU.)
_BLOCK = 100
_SIZES = (_BLOCK, 64, 32, 16, 8, 4, 2, 1)
def _insert_in_blocks(conn: Connection, batch_id: str, outcomes: Sequence[EntryOutcome],
                      created_at: object, first_row: int) -> None:
    """Writes the rows, which take the rowids from `first_row` on: the range the ledger
    claim wrote into the batch's ledger row (`batches._claim`), which the audit and the
    pruning find them by. After the claim, which took the database's write lock: no one
    else adds rows meanwhile, so each row takes the next rowid.
    Through the driver's cursor: SQLAlchemy's work on each statement cost more than
    SQLite's on a block of rows."""
    kinds = _KINDS  # a dict look-up costs less than str() of an enum, 500 times a batch
    rows = [(o.delivery_id, kinds[o.outcome], o.insert_key) for o in outcomes]
    with driver_cursor(conn) as cursor:
        for start, size in _blocks(len(rows)):
            cursor.execute(_insert_sql(size), (batch_id, created_at,
                                               *chain.from_iterable(rows[start : start + size])))
        last = cursor.lastrowid  # the last row's
        if last != first_row + len(rows) - 1:  # SQLite's rowids ran out: it picks at random
            raise RuntimeError(f"batch {batch_id}: outcome rows {first_row} to {last}, "
                               f"{len(rows)} written; the range would not hold them")


_DELIVERY = attrgetter("delivery_id")


def _blocks(rows: int) -> Iterator[tuple[int, int]]:
    """(start, size) of each block of `rows` rows, of the sizes in `_SIZES`, largest first."""
    start = 0
    for size in _SIZES:
        while rows - start >= size:
            yield start, size
            start += size


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """The driver's own cursor on `conn`'s connection, inside its transaction, closed
    afterwards: for the statements run for every batch, where SQLAlchemy's work on each
    execution cost more than SQLite's. The driver's errors come out as SQLAlchemy's, as
    every other statement's do (an IntegrityError, an OperationalError to retry on)."""
    dbapi = conn.dialect.loaded_dbapi
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        yield cursor
    except dbapi.Error as error:
        raise DBAPIError.instance(None, None, error, dbapi.Error) from error
    finally:
        cursor.close()


@cache
def _insert_sql(rows: int) -> str:
    """An INSERT of `rows` outcome rows on SQLite: the batch and the time, which every row
    shares, then each row's delivery, outcome and insert key (three parameters a row to
    bind, not five: a tenth of the insert's CPU).

    OR FAIL: a row taken already stops the statement and keeps the rows it wrote before,
    where the default (ABORT) takes them back out. For that, SQLite copies every page a
    statement of many rows is about to change into a statement journal, a temporary file
    past 64 KiB: a fifth of the insert's CPU. Nothing of the batch stays either way: the
    clash fails the batch's transaction (`EntriesCountedMeanwhile`), as it does the rows of
    the blocks before."""
    values = ", ".join(["(?, ?, ?)"] * rows)
    return (f"INSERT OR FAIL INTO {OUTCOMES.name} {_COLUMNS} "
            f"SELECT column1, ?, column2, column3, ? FROM (VALUES {values})")


_KINDS = {outcome: outcome.value for outcome in Outcome}


def _placeholder(conn: Connection) -> str:
    return placeholder(conn.dialect.paramstyle)


def placeholder(paramstyle: str) -> str:
    """The driver's parameter mark: `?` for sqlite3, `%s` for psycopg."""
    return "?" if paramstyle == "qmark" else "%s"


def time_for(conn: Connection, column: ColumnElement[datetime], now: datetime) -> object:
    """`now` as the database takes it in `column`, for driver SQL. The dialect's own
    processor: on SQLite it makes the text SQLAlchemy writes for every other time column
    (the driver's adapter would write another form)."""
    to_db = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return to_db(now) if to_db else now


def settled(conn: Connection, batch_ids: Collection[str]) -> set[str]:
    """Those of `batch_ids` that are safe in the database: recorded, or failed for good and
    kept as dead letters (`failed_batch_letters` names the first `batch:<id>#0`)."""
    found: set[str] = set()
    for ids in _chunks(batch_ids):
        found.update(conn.execute(select(LEDGER.c.batch_id).where(LEDGER.c.batch_id.in_(ids)))
                     .scalars())
        sources = [f"batch:{i}#0" for i in ids]
        failed = select(DEAD_LETTERS.c.source).where(DEAD_LETTERS.c.source.in_(sources))
        found.update(s.removeprefix("batch:").removesuffix("#0")
                     for s in conn.execute(failed).scalars())
    return found


@dataclass(frozen=True, slots=True)
class Audit:
    """What the database says became of the entries received since `since`."""

    since: datetime
    processed: int
    duplicates: int
    dead_letters: int
    batches: int
    # Batches whose ledger counts differ from their outcome rows: (id, ledger, rows).
    uneven_batches: tuple[tuple[str, int, int], ...]

    @property
    def total(self) -> int:
        return self.processed + self.duplicates + self.dead_letters

    def problems(self, expected: int | None = None) -> list[str]:
        """What does not add up, in words; empty when everything does."""
        found = [
            f"batch {batch_id}: the ledger counts {ledger} entries, {rows} are recorded"
            for batch_id, ledger, rows in self.uneven_batches
        ]
        if expected is not None and expected != self.total:
            gap = expected - self.total
            what = "missing" if gap > 0 else "counted more than once or not expected"
            found.append(f"{abs(gap)} entries {what}: expected {expected}, "
                         f"found {self.total} (processed + duplicates + dead letters)")
        return found


def audit(conn: Connection, since: datetime) -> Audit:
    if conn.dialect.name == "sqlite":
        return _audit_by_ranges(conn, since)
    col = OUTCOMES.c
    recent = col.created_at >= since
    grouped = select(col.outcome, func.count()).where(recent).group_by(col.outcome)
    by_outcome = {str(outcome): int(n) for outcome, n in conn.execute(grouped)}
    rows = (select(col.batch_id, func.count().label("n")).where(recent)
            .group_by(col.batch_id).subquery())
    led = LEDGER.c
    counted = led.processed + led.duplicates
    per_batch = (
        select(led.batch_id, counted, func.coalesce(rows.c.n, 0))
        .select_from(LEDGER.outerjoin(rows, rows.c.batch_id == led.batch_id))
        .where(led.created_at >= since)
    )
    ledger = [(str(b), int(n), int(r)) for b, n, r in conn.execute(per_batch)]
    return _audit(conn, since, by_outcome, ledger)


# On SQLite, each batch recorded since the time given, and how many outcome rows it has:
# in all, processed and duplicates. Its rows are those of its range of rowids (and of its
# batch: the range is never the truth alone), read once for each count: three reads of a
# range cost SQLite less than sorting every row of the window into groups. `+o.batch_id`,
# which no index can serve, keeps SQLite from building one over the whole table (it did,
# without statistics) rather than reading the ranges.
_OF_BATCH = (f"FROM {OUTCOMES.name} AS o WHERE o.rowid BETWEEN l.first_outcome_row "
             "AND l.last_outcome_row AND +o.batch_id = l.batch_id")
_COUNTS_BY_RANGE = (
    f"SELECT l.batch_id, l.processed + l.duplicates, (SELECT count(*) {_OF_BATCH}), "
    f"(SELECT count(*) {_OF_BATCH} AND o.outcome = ?), "
    f"(SELECT count(*) {_OF_BATCH} AND o.outcome = ?) "
    f"FROM {LEDGER.name} AS l WHERE l.created_at >= ?")


def _audit_by_ranges(conn: Connection, since: datetime) -> Audit:
    """The audit on SQLite, which keeps no index of the rows' time nor of their batch:
    the window's rows are those of the batches the ledger recorded in it (a batch's rows
    share its time, written in its transaction), each found by its range."""
    kinds = (Outcome.PROCESSED.value, Outcome.DUPLICATE.value)
    window = time_for(conn, LEDGER.c.created_at, since)
    counts = conn.exec_driver_sql(_COUNTS_BY_RANGE, (*kinds, window)).all()
    by_outcome = {kind: sum(row[3 + i] for row in counts) for i, kind in enumerate(kinds)}
    ledger = [(batch_id, counted, rows) for batch_id, counted, rows, _, _ in counts]
    return _audit(conn, since, by_outcome, ledger)


def _audit(conn: Connection, since: datetime, by_outcome: Mapping[str, int],
           ledger: Sequence[tuple[str, int, int]]) -> Audit:
    """The Audit of these counts, with the dead letters received since `since`."""
    dead = conn.execute(select(func.count()).select_from(DEAD_LETTERS)
                        .where(DEAD_LETTERS.c.received_at >= since)).scalar_one()
    return Audit(since, by_outcome.get(Outcome.PROCESSED.value, 0),
                 by_outcome.get(Outcome.DUPLICATE.value, 0), int(dead), len(ledger),
                 tuple(row for row in ledger if row[1] != row[2]))


def _chunks(items: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(items)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Deletes up to `limit` ledger batches recorded before `before`, with their outcome
    rows (inside the caller's transaction); returns how many batches went.

    Batch and rows go together (they share their `created_at`), so an audit of any
    window still adds up. Dead letters stay: they are the input to replay."""
    led = LEDGER.c
    old = conn.execute(select(led.batch_id, led.first_outcome_row, led.last_outcome_row)
                       .where(led.created_at < before)
                       .order_by(led.batch_id).limit(limit)).all()
    if not old:
        return 0
    ids = [batch_id for batch_id, _, _ in old]
    if conn.dialect.name == "sqlite":  # by each batch's range: no index of their batch
        ranges = [(first, last, batch_id) for batch_id, first, last in old if first is not None]
        if ranges:
            conn.exec_driver_sql(_DELETE_RANGE, ranges)
    else:
        conn.execute(delete(OUTCOMES).where(OUTCOMES.c.batch_id.in_(ids)))
    conn.execute(delete(LEDGER).where(led.batch_id.in_(ids)))
    return len(old)


_DELETE_RANGE = (f"DELETE FROM {OUTCOMES.name} WHERE rowid BETWEEN ? AND ? "
                 "AND batch_id = ?")
