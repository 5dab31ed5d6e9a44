"""Each delivery counted once, on SQLite and Postgres: a second copy of an entry is a
duplicate even alone in its batch, a regrouped redelivery counts nothing again, and a
batch that raced another for the same entries stores nothing and is processed again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import OperationalError, ProgrammingError

import migrations
from observability.metrics import Metrics
from pipeline.batch import Batch
from pipeline.detectors import default_detectors
from pipeline.entry import LogEntry, Severity, delivery_keys_of
from pipeline.parsing import parse_pubsub_message
from pipeline.processing import BatchProcessor
from pipeline.state import InMemoryStateStore
from pipeline.storage import (
    BatchRecord,
    EntriesCountedMeanwhile,
    EntryOutcome,
    Outcome,
    Store,
    accounting,
    make_engine,
)
from pipeline.storage import batches as batch_store
from pipeline.storage.models import LEDGER, OUTCOMES
from pipeline.templates import TemplateMiner


@pytest.mark.parametrize("time_assumed", [False, True])
@pytest.mark.parametrize("delivery_id", ["m1", ""])
def test_a_batch_keys_its_entries_as_each_entry_does(delivery_id: str, time_assumed: bool
                                                     ) -> None:
    entries = [LogEntry("i1", 1_793_000_000_000_782_094, Severity.INFO, "x", project="p",
                        delivery_id="m0"),
               LogEntry("i2", 7, Severity.INFO, "y", project="q", delivery_id=delivery_id,
                        time_assumed=time_assumed)]
    assert delivery_keys_of(entries) == [e.delivery_key for e in entries]
    assert delivery_keys_of([]) == []


def delivery(insert_id: str, message_id: str) -> LogEntry:
    entry = {"insertId": insert_id, "timestamp": "2026-11-02T08:00:00Z", "severity": "INFO",
             "textPayload": f"GET /items/{insert_id} 200",
             "resource": {"type": "k8s_container", "labels": {"container_name": "shop"}}}
    parsed = parse_pubsub_message(json.dumps(entry).encode(), {}, message_id, None)
    assert isinstance(parsed, LogEntry)
    return parsed


def batch(*entries: LogEntry) -> Batch:
    return Batch(entries[0].stream_key, entries)


@pytest.fixture
def store(db_url: str) -> Store:
    migrations.upgrade(db_url)
    return Store(make_engine(db_url))


def processor(store: Store, registry: CollectorRegistry) -> BatchProcessor:
    return BatchProcessor(miner=TemplateMiner(100),
                          detectors=default_detectors(), state=InMemoryStateStore(),
                          store=store, metrics=Metrics(registry))


def test_copies_redeliveries_and_regroupings_are_each_counted_once(store: Store) -> None:
    registry = CollectorRegistry()
    run = processor(store, registry).process
    a, b, c = delivery("a", "m1"), delivery("b", "m2"), delivery("c", "m3")
    first = run(batch(a))
    copy = run(batch(delivery("a", "m4")))  # the same entry, another message, alone
    assert copy.batch_id != first.batch_id
    assert (copy.processed, copy.duplicates) == (0, 1)
    assert run(batch(a)).already_recorded  # the same message again: the same batch
    regrouped = run(batch(a, b, c))  # m1 again, with two new ones
    assert (regrouped.entries, regrouped.processed, regrouped.duplicates) == (3, 2, 0)
    audit = store.audit(datetime(2000, 1, 1, tzinfo=UTC))
    assert (audit.processed, audit.duplicates, audit.problems(4)) == (3, 1, [])
    value = registry.get_sample_value
    assert value("logwarden_entries_processed_total", {"service": "shop"}) == 3
    assert value("logwarden_entries_duplicate_total") == 1
    assert value("logwarden_entries_redelivered_total") == 1


def test_a_batch_of_new_entries_counts_each_as_the_general_loop_does(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch whose deliveries and insert ids are all new, each there once, takes a short
    way to its outcomes: the same as the loop's, which an unrelated known delivery forces."""
    count = processor(store, CollectorRegistry())._count_entries
    batches = [batch(delivery("a", "m1"), delivery("b", "m2"), delivery("c", "m3")),
               batch(delivery("a", "m1"), delivery("a", "m2")),  # a copy: a duplicate
               batch(delivery("a", "m1"), delivery("a", "m1"))]  # the same delivery twice
    short = [count(b) for b in batches]
    known = store.known_entries
    monkeypatch.setattr(store, "known_entries",
                        lambda d, k: (known(d, k)[0] | {"unrelated"}, known(d, k)[1]))
    assert short == [count(b) for b in batches]
    assert short[0] == (batches[0], [EntryOutcome(e.delivery_key, Outcome.PROCESSED, e.insert_key)
                                     for e in batches[0].entries])
    assert [o.outcome for o in short[1][1]] == [Outcome.PROCESSED, Outcome.DUPLICATE]
    assert len(short[2][1]) == 1


def test_a_batch_that_raced_another_for_an_entry_stores_nothing(store: Store) -> None:
    """What a second worker's record meets when another recorded the same insert id
    between its check and its record: an error to retry on, and nothing written."""
    run = processor(store, CollectorRegistry()).process
    run(batch(delivery("a", "m1")))
    late = BatchRecord("late-batch", "p/k8s_container/shop", 1, 1, 0, 0, 0)
    taken = EntryOutcome("m9", Outcome.PROCESSED, delivery("a", "m9").insert_key)
    with pytest.raises(EntriesCountedMeanwhile):
        store.record_batch(late, [], [], {}, channels=(),
                           outcomes=[taken])
    assert not store.batch_recorded("late-batch")
    assert store.known_entries({"m9"}, ()) == (set(), set())
    again = run(batch(delivery("a", "m9")))  # processed again, it sees the entry taken
    assert (again.processed, again.duplicates) == (0, 1)


def revision(insert_id: str, name: str) -> LogEntry:
    entry = {"insertId": insert_id, "timestamp": "2026-11-02T08:00:00Z", "severity": "INFO",
             "textPayload": "GET /items 200",
             "resource": {"type": "cloud_run_revision",
                          "labels": {"service_name": "Shop", "revision_name": name}}}
    parsed = parse_pubsub_message(json.dumps(entry).encode(), {}, f"m-{insert_id}", None)
    assert isinstance(parsed, LogEntry)
    return parsed


def test_a_deploy_seen_in_the_logs_is_counted_once_for_its_service(store: Store) -> None:
    registry = CollectorRegistry()
    run = processor(store, registry).process
    run(batch(revision("a", "shop-00001")))
    deploys = {"kind": "deploy", "service": "shop"}  # the label shaped from "Shop"
    assert registry.get_sample_value("logwarden_changes_total", deploys) == 0  # not None
    deployed = batch(revision("b", "shop-00001"), revision("c", "shop-00002"))
    run(deployed)
    assert run(deployed).already_recorded  # Pub/Sub delivered the batch again
    assert registry.get_sample_value("logwarden_changes_total", deploys) == 1


def test_outcome_rows_hold_their_batch_time_as_the_ledger_writes_it(store: Store) -> None:
    """The outcome rows' time is converted for the database once a batch; what is stored
    is what the ledger row of the same batch holds, and reads back as the record time."""
    run = processor(store, CollectorRegistry()).process
    outcome = run(batch(delivery("a", "m1"), delivery("b", "m2")))
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.created_at, l.created_at FROM entry_outcomes o "
            "JOIN processed_batches l ON l.batch_id = o.batch_id").all()
    assert len(rows) == 2 and all(mine == ledger for mine, ledger in rows)
    audit = store.audit(datetime(2000, 1, 1, tzinfo=UTC))
    assert audit.processed == 2 and outcome.processed == 2


def test_pruning_forgets_old_batches_with_their_outcomes_and_audits_still_add_up(
    db_url: str,
) -> None:
    migrations.upgrade(db_url)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    clock = [now - timedelta(days=10)]
    store = Store(make_engine(db_url), clock=lambda: clock[0])
    run = processor(store, CollectorRegistry()).process
    run(batch(delivery("a", "m1"), delivery("b", "m2")))
    run(batch(delivery("a", "m3")))  # a duplicate, counted in a batch of its own
    clock[0] = now
    run(batch(delivery("c", "m4")))

    assert store.prune_accounting(timedelta(days=8), chunk=1) == 2
    audit = store.audit(now - timedelta(days=30))
    assert (audit.batches, audit.processed, audit.duplicates, audit.problems(1)) == (
        1, 1, 0, [])
    assert store.prune_accounting(timedelta(days=8)) == 0
    assert run(batch(delivery("c", "m4"))).already_recorded  # what is kept still counts


def outcomes_of(prefix: str, n: int) -> list[EntryOutcome]:
    """n deliveries, every fifth a duplicate (no insert key), the rest processed."""
    return [EntryOutcome(f"{prefix}-m{i:04}", Outcome.DUPLICATE) if i % 5 == 0
            else EntryOutcome(f"{prefix}-m{i:04}", Outcome.PROCESSED, f"{prefix}-k{i:04}")
            for i in range(n)]


def record(store: Store, batch_id: str, outcomes: list[EntryOutcome]) -> None:
    processed = sum(o.outcome is Outcome.PROCESSED for o in outcomes)
    ledger = BatchRecord(batch_id, "p/k8s_container/shop", len(outcomes), processed,
                         len(outcomes) - processed, 0, 0)
    store.record_batch(ledger, [], [], {}, outcomes=outcomes)


def test_every_outcome_row_of_a_large_batch_is_written_and_a_clash_anywhere_writes_none(
    store: Store,
) -> None:
    """The rows go in as one statement on Postgres: all of them, or (one of them taken by
    another batch, wherever it sits) none, and the ledger row neither."""
    record(store, "big", outcomes_of("a", 1200))
    record(store, "all-duplicates", [EntryOutcome(f"d-m{i}", Outcome.DUPLICATE) for i in range(3)])
    since = datetime(2000, 1, 1, tzinfo=UTC)
    audit = store.audit(since)
    assert (audit.processed, audit.duplicates, audit.problems(1203)) == (960, 243, [])

    for clash in (EntryOutcome("a-m0600", Outcome.DUPLICATE),  # a delivery counted
                  EntryOutcome("b-m9999", Outcome.PROCESSED, "a-k0601")):  # an insert id taken
        late = outcomes_of("b", 500)
        late[250] = clash
        with pytest.raises(EntriesCountedMeanwhile):
            record(store, "late", late)
        assert not store.batch_recorded("late")
        assert store.known_entries({"b-m0001", "b-m0499"}, {"b-k0001"}) == (set(), set())
    assert store.audit(since).total == 1203


@pytest.mark.parametrize("size", [1, 99, 100, 101, 250, 500])
def test_each_outcome_row_is_written_as_given_whatever_the_batch_size(
    store: Store, size: int
) -> None:
    """SQLite takes the rows in blocks of a hundred and the rest in smaller blocks: every
    row is written once, as given; a clash in the rows after the last block writes none."""
    outcomes = outcomes_of("a", size)
    record(store, "sized", outcomes)
    with store.engine.connect() as conn:
        rows = set(conn.exec_driver_sql(
            "SELECT delivery_id, batch_id, outcome, insert_key FROM entry_outcomes"))
    assert rows == {(o.delivery_id, "sized", o.outcome.value, o.insert_key) for o in outcomes}
    if store.engine.dialect.name == "sqlite":  # the ledger's range holds every row, only them
        with store.engine.connect() as conn:
            first, last = conn.execute(select(LEDGER.c.first_outcome_row,
                                              LEDGER.c.last_outcome_row)).one()
            inside = conn.exec_driver_sql("SELECT count(*) FROM entry_outcomes "
                                          "WHERE rowid BETWEEN ? AND ?", (first, last)).scalar()
        assert inside == last - first + 1 == size
    late = outcomes_of("b", size)
    late[-1] = EntryOutcome(outcomes[-1].delivery_id, Outcome.DUPLICATE)  # a delivery counted
    with pytest.raises(EntriesCountedMeanwhile):
        record(store, "late", late)
    assert store.known_entries({o.delivery_id for o in late[:-1]}, ()) == (set(), set())


def test_sqlite_blocks_of_rows_cover_every_row_once_in_few_statements() -> None:
    for rows in range(0, 1000):
        blocks = list(accounting._blocks(rows))
        covered = [i for start, size in blocks for i in range(start, start + size)]
        assert covered == list(range(rows)), rows
        assert len(blocks) <= rows // accounting._BLOCK + 7, rows
        assert {size for _, size in blocks} <= set(accounting._SIZES)


def test_sqlite_rows_that_would_not_take_consecutive_rowids_are_not_written(
    sqlite_url: str,
) -> None:
    """Past the largest rowid SQLite picks them at random: the range would not hold the
    batch's rows, so the batch fails with nothing written rather than be found wrongly."""
    migrations.upgrade(sqlite_url)
    with opened_store(sqlite_url) as store:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO entry_outcomes (rowid, delivery_id, batch_id, "
                                 "outcome, created_at) VALUES (9223372036854775807, 'm-last', "
                                 "'elsewhere', 'duplicate', '2026-12-01 00:00:00.000000')")
        with pytest.raises(RuntimeError, match="the range would not hold them"):
            record(store, "random", outcomes_of("a", 3))
        assert not store.batch_recorded("random")
        assert store.known_entries({"a-m0001"}, ()) == (set(), set())


def test_ids_holding_quotes_braces_commas_and_other_scripts_are_written_and_found_as_given(
    store: Store,
) -> None:
    """Insert ids come from the logging client: whatever characters they hold, each row
    keeps its own (nothing split or unescaped on the way to the database's arrays)."""
    odd = ['a"b', "c\\d", "{e,f}", "g h", "NULL", "", "é漢字", "x'y", "[1]"]
    outcomes = [EntryOutcome(f"m{i}:{text}", Outcome.PROCESSED, f"k:{text}")
                for i, text in enumerate(odd)]
    outcomes.append(EntryOutcome("m-dup", Outcome.DUPLICATE))  # no insert key: NULL
    record(store, "odd", outcomes)
    deliveries = {o.delivery_id for o in outcomes}
    keys = {o.insert_key for o in outcomes if o.insert_key is not None}
    assert store.known_entries(deliveries | {"m-other"}, keys | {"k:other"}) == (deliveries, keys)


def test_sqlite_reads_the_json_arrays_of_ids_back_as_the_ids_json_dumps_gave(
    sqlite_url: str,
) -> None:
    """The known-entries read sends each list of ids as a JSON array for json_each: what
    SQLite reads out of it is each id as given, as from json.dumps's array, whatever the
    characters. A lone surrogate, which UTF-8 cannot hold, goes as json.dumps writes it."""
    odd = ['a"b', "c\\d", "{e,f}", "", "é漢字", "x'y", "[1]", "\t\n\r\x1f\x7f", "\u2028\u2029",
           "\U0001f600", "\\u0041", "\ufeff", "/"]
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        def read(array: str) -> list[str]:
            return [row[0] for row in conn.exec_driver_sql("SELECT value FROM json_each(?)",
                                                           (array,))]

        for ids in [[text] for text in odd] + [odd]:
            assert read(accounting._json_array(ids)) == read(json.dumps(ids)) == ids
    engine.dispose()
    assert accounting._json_array({"a\ud800b"}) == json.dumps(["a\ud800b"])


def test_sqlite_finds_ids_holding_a_nul_which_its_json_reading_would_cut(
    sqlite_url: str,
) -> None:
    """json_each reads an escaped NUL as the end of its string: ids holding one are looked
    up as lists of parameters instead, and found."""
    migrations.upgrade(sqlite_url)
    outcomes = [EntryOutcome("m:a\x00b", Outcome.PROCESSED, "k:c\x00d"),
                EntryOutcome("m:plain", Outcome.PROCESSED, "k:plain")]
    with opened_store(sqlite_url) as store:
        record(store, "nul", outcomes)
        assert store.known_entries({"m:a\x00b", "m:a"}, {"k:c"}) == ({"m:a\x00b"}, set())
        assert store.known_entries({"m:a"}, {"k:c\x00d", "k:c"}) == (set(), {"k:c\x00d"})
        assert store.known_entries({"m:plain", "m:a"}, {"k:plain", "k:c"}) == (
            {"m:plain"}, {"k:plain"})


def test_errors_on_the_driver_s_cursor_come_out_as_sqlalchemy_s(db_url: str) -> None:
    """The ledger's per-batch statements run on the driver's cursor; what fails there is
    raised as every other statement's failure is (the fleet's tasks retry on
    OperationalError, the CLI names a database problem). A missing table is an
    OperationalError on SQLite, a ProgrammingError on Postgres: both SQLAlchemy's."""
    migrations.upgrade(db_url)
    missing = OperationalError if db_url.startswith("sqlite") else ProgrammingError
    with opened_store(db_url) as store:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE entry_outcomes RENAME TO elsewhere")
        with pytest.raises(missing, match="entry_outcomes"):
            store.known_entries({"m1"}, {"k1"})
        with pytest.raises(missing, match="entry_outcomes"):
            record(store, "b1", outcomes_of("a", 3))
        assert not store.batch_recorded("b1")


def test_the_sqlite_known_entries_read_looks_up_each_id_in_its_index(sqlite_url: str) -> None:
    migrations.upgrade(sqlite_url)
    with opened_store(sqlite_url) as store:
        record(store, "one", outcomes_of("a", 20))
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {accounting._KNOWN_JSON}", ('["a-m0001"]', '["a-k0001"]'))]
    assert [step for step in plan if step.startswith(("SCAN", "SEARCH"))] == [
        "SCAN wanted VIRTUAL TABLE INDEX 1:",
        "SEARCH o USING INDEX sqlite_autoindex_entry_outcomes_1 (delivery_id=?)",
        "SCAN wanted VIRTUAL TABLE INDEX 1:",
        "SEARCH o USING INDEX sqlite_autoindex_entry_outcomes_2 (insert_key=?)"], plan


def test_the_sqlite_ledger_claim_reads_the_largest_outcome_rowid_without_a_scan(
    sqlite_url: str,
) -> None:
    """The claim reads the outcome rows' largest rowid for every batch: from the table's
    last page, not by reading every row."""
    migrations.upgrade(sqlite_url)
    with opened_store(sqlite_url) as store:
        record(store, "one", outcomes_of("a", 20))
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {batch_store._CLAIM_SQLITE}", ("b",) + (0,) * 10)]
    assert [step for step in plan if step.startswith(("SCAN", "SEARCH"))] == [
        "SEARCH entry_outcomes", "SEARCH entry_outcomes"], plan


def test_an_sqlite_batch_without_outcome_rows_holds_no_range_and_the_next_follows_on(
    sqlite_url: str,
) -> None:
    migrations.upgrade(sqlite_url)
    with opened_store(sqlite_url) as store:
        record(store, "first", outcomes_of("a", 3))
        record(store, "empty", [])
        record(store, "next", outcomes_of("b", 2))
        with store.engine.connect() as conn:
            ranges = {batch_id: (first, last) for batch_id, first, last in conn.execute(
                select(LEDGER.c.batch_id, LEDGER.c.first_outcome_row, LEDGER.c.last_outcome_row))}
    assert ranges == {"first": (1, 3), "empty": (None, None), "next": (4, 5)}


@pytest.mark.integration
def test_the_known_entries_read_looks_up_the_indexes_before_postgres_has_statistics(
    pg_url: str,
) -> None:
    """A new table (the first minute of a fleet, before autovacuum's first ANALYZE) must
    not make each batch's read scan every outcome row: a full batch's ids, of the form
    the service writes, are each looked up in their index."""
    migrations.upgrade(pg_url)
    store = Store(make_engine(pg_url))
    try:
        with store.engine.begin() as conn:  # a busy first minute: 100,000 entries counted
            conn.exec_driver_sql(
                "INSERT INTO entry_outcomes SELECT md5('m' || n), 'b' || n / 500, "
                "'processed', (1793000000000000000 + n) || ':acme-prod:' || md5('k' || n), "
                "now() FROM generate_series(1, 100000) AS n")
        params = ([f"{i:032x}" for i in range(500)],
                  [f"{1793000000000100000 + i}:acme-prod:{i:032x}" for i in range(500)])
        with store.engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                f"EXPLAIN {accounting._KNOWN_ARRAYS}", params))
        assert "Seq Scan" not in plan, plan
    finally:
        store.close()


@pytest.mark.integration
def test_the_known_entries_read_is_planned_for_every_batch_not_prepared(pg_url: str) -> None:
    """A prepared statement's generic plan, made while the table was new and small, would
    go on scanning the whole table as it grew; the read is planned anew each time."""
    migrations.upgrade(pg_url)
    store = Store(make_engine(pg_url))
    try:
        for n in range(10):  # past psycopg's threshold for preparing a statement
            store.known_entries({f"m{n}"}, {f"k{n}"})
        with store.engine.connect() as conn:
            prepared = conn.exec_driver_sql(
                "SELECT statement FROM pg_prepared_statements").scalars().all()
        assert not [s for s in prepared if "entry_outcomes" in s], prepared
    finally:
        store.close()


def test_an_audit_counts_the_rows_of_the_batches_recorded_in_its_window(db_url: str) -> None:
    """On SQLite the window's rows are found through the ledger (no index of the rows' own
    time there), on Postgres by their time: the same counts either way."""
    migrations.upgrade(db_url)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    clock = [now - timedelta(days=3)]
    store = Store(make_engine(db_url), clock=lambda: clock[0])
    try:
        record(store, "old", outcomes_of("a", 10))  # 8 processed, 2 duplicates
        clock[0] = now
        record(store, "new", outcomes_of("b", 5))  # 4 processed, 1 duplicate
        recent = store.audit(now - timedelta(hours=1))
        assert (recent.batches, recent.processed, recent.duplicates, recent.problems(5)) == (
            1, 4, 1, [])
        assert store.audit(now).total == 5  # a batch recorded at `since` is in the window
        assert store.audit(now + timedelta(microseconds=1)).total == 0
        every = store.audit(now - timedelta(days=4))
        assert (every.batches, every.total, every.problems(15)) == (2, 15, [])
    finally:
        store.close()


def test_an_sqlite_audit_finds_its_rows_by_range_not_by_reading_every_row(
    sqlite_url: str,
) -> None:
    """Each batch's rows by the range of rowids its ledger row holds (SQLite keeps no
    index of their batch)."""
    migrations.upgrade(sqlite_url)
    store = Store(make_engine(sqlite_url))
    try:
        record(store, "one", outcomes_of("a", 20))
        statements: list[tuple[str, Any]] = []

        def seen(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
            statements.append((sql, params))

        event.listen(store.engine, "before_cursor_execute", seen)
        assert store.audit(datetime(2000, 1, 1, tzinfo=UTC)).problems(20) == []
        event.remove(store.engine, "before_cursor_execute", seen)
        reads = [(sql, params) for sql, params in statements if "entry_outcomes" in sql]
        assert len(reads) == 1
        with store.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {reads[0][0]}", reads[0][1])]
        assert [step for step in plan if step.startswith(("SCAN", "SEARCH"))] == [
            "SEARCH l USING INDEX ix_processed_batches_created_at (created_at>?)",
            *["SEARCH o USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"] * 3], plan
    finally:
        store.close()


@contextmanager
def opened_store(url: str) -> Iterator[Store]:
    """A store on `url`, closed afterwards (a migration needs it closed meanwhile)."""
    store = Store(make_engine(url))
    try:
        yield store
    finally:
        store.close()


def record_as_before_0011(url: str, batch_id: str, outcomes: list[EntryOutcome]) -> None:
    """Writes a batch's ledger and outcome rows as every revision from 0003 to 0010 holds
    them (the store of today writes columns those revisions lack)."""
    processed = sum(o.outcome is Outcome.PROCESSED for o in outcomes)
    created_at = datetime(2020, 1, 1, tzinfo=UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(LEDGER.insert().values(
                batch_id=batch_id, stream="p/k8s_container/shop", entries=len(outcomes),
                processed=processed, duplicates=len(outcomes) - processed, start_ns=0,
                end_ns=0, created_at=created_at))
            rows = [{"delivery_id": o.delivery_id, "batch_id": batch_id,
                     "outcome": o.outcome.value, "insert_key": o.insert_key,
                     "created_at": created_at} for o in outcomes]
            if rows:
                conn.execute(OUTCOMES.insert(), rows)
    finally:
        engine.dispose()


def outcome_rows(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(
                "SELECT delivery_id, batch_id, outcome, insert_key, created_at "
                "FROM entry_outcomes ORDER BY delivery_id").all())
    finally:
        engine.dispose()


def sqlite_indexes(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name for (name,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE tbl_name = ? AND type = 'index'",
                (table,))}
    finally:
        engine.dispose()


def test_the_migration_to_0009_keeps_every_sqlite_row_and_drops_only_the_time_index(
    sqlite_url: str,
) -> None:
    migrations.upgrade(sqlite_url, "0008_ledger_age")
    record_as_before_0011(sqlite_url, "before", outcomes_of("a", 30))
    before = outcome_rows(sqlite_url)
    assert "ix_entry_outcomes_created_at" in sqlite_indexes(sqlite_url, "entry_outcomes")
    migrations.upgrade(sqlite_url, "0009_outcomes_age_postgres_only")
    after = outcome_rows(sqlite_url)
    indexes = sqlite_indexes(sqlite_url, "entry_outcomes")
    assert after == before and len(after) == 30
    assert "ix_entry_outcomes_created_at" not in indexes
    assert "ix_entry_outcomes_batch_id" in indexes
    migrations.upgrade(sqlite_url)
    with opened_store(sqlite_url) as store:
        record(store, "after", outcomes_of("b", 10))
        assert store.known_entries({"a-m0001"}, {"a-k0001"}) == ({"a-m0001"}, {"a-k0001"})
        assert store.audit(datetime(2000, 1, 1, tzinfo=UTC)).problems(40) == []


def ranges(url: str) -> dict[str, tuple[int | None, int | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {b: (first, last) for b, first, last in conn.execute(
                select(LEDGER.c.batch_id, LEDGER.c.first_outcome_row,
                       LEDGER.c.last_outcome_row))}
    finally:
        engine.dispose()


def test_the_migration_to_0011_gives_each_sqlite_batch_the_range_of_its_rows(
    db_url: str,
) -> None:
    """Batches recorded before it are audited and pruned by their range on SQLite (by the
    batch index on Postgres, where the ranges stay empty) with the rows of batches
    recorded after it; going back down puts the batch index back on SQLite."""
    migrations.upgrade(db_url, "0010_ledger_ids_bytewise")
    record_as_before_0011(db_url, "old-1", outcomes_of("a", 30))  # 24 processed
    record_as_before_0011(db_url, "old-none", [])  # every delivery counted before
    record_as_before_0011(db_url, "old-2", outcomes_of("b", 7))  # 5 processed
    before = outcome_rows(db_url)
    migrations.upgrade(db_url)
    assert outcome_rows(db_url) == before and len(before) == 37
    sqlite = db_url.startswith("sqlite")
    expected = {"old-1": (1, 30), "old-none": (None, None), "old-2": (31, 37)}
    assert ranges(db_url) == (expected if sqlite else dict.fromkeys(expected, (None, None)))
    if sqlite:
        assert "ix_entry_outcomes_batch_id" not in sqlite_indexes(db_url, "entry_outcomes")
    with opened_store(db_url) as store:
        record(store, "new", outcomes_of("c", 5))  # 4 processed
        if sqlite:
            assert ranges(db_url)["new"] == (38, 42)
        audit = store.audit(datetime(2000, 1, 1, tzinfo=UTC))
        assert (audit.batches, audit.processed, audit.duplicates, audit.problems(42)) == (
            4, 33, 9, [])
        assert store.prune_accounting(timedelta(days=1)) == 3  # those of 2020
        left = store.audit(datetime(2000, 1, 1, tzinfo=UTC))
        assert (left.batches, left.processed, left.duplicates, left.problems(5)) == (
            1, 4, 1, [])
        assert store.known_entries({"a-m0001", "c-m0001"}, ()) == ({"c-m0001"}, set())
    migrations.downgrade(db_url, "0010_ledger_ids_bytewise")
    assert len(outcome_rows(db_url)) == 5
    assert "first_outcome_row" not in {c["name"] for c in inspect_columns(db_url)}
    if sqlite:
        assert "ix_entry_outcomes_batch_id" in sqlite_indexes(db_url, "entry_outcomes")


def inspect_columns(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        return list(inspect(engine).get_columns("processed_batches"))
    finally:
        engine.dispose()


_LEDGER_IDS = "SELECT table_name || '.' || column_name, collation_name FROM " \
    "information_schema.columns WHERE (table_name, column_name) IN (('processed_batches', " \
    "'batch_id'), ('entry_outcomes', 'delivery_id'), ('entry_outcomes', 'batch_id'), " \
    "('entry_outcomes', 'insert_key'))"


@pytest.mark.integration
def test_the_migration_to_0010_makes_postgres_compare_the_ledger_ids_bytewise(
    pg_url: str,
) -> None:
    """Ids that a language's collation would sort apart from their bytes ("a" and "B",
    accents) are kept, found and deduplicated as before, and back down again."""
    migrations.upgrade(pg_url, "0009_outcomes_age_postgres_only")
    odd = [EntryOutcome(f"m-{t}", Outcome.PROCESSED, f"k-{t}") for t in ("a", "B", "é", "e")]
    with opened_store(pg_url) as store:
        record(store, "before", odd)
        with store.engine.connect() as conn:
            assert {c for _, c in conn.exec_driver_sql(_LEDGER_IDS)} == {None}
    migrations.upgrade(pg_url)
    with opened_store(pg_url) as store:
        with store.engine.connect() as conn:
            assert dict(conn.exec_driver_sql(_LEDGER_IDS).all()) == {
                "processed_batches.batch_id": "C", "entry_outcomes.delivery_id": "C",
                "entry_outcomes.batch_id": "C", "entry_outcomes.insert_key": "C"}
        deliveries, keys = {o.delivery_id for o in odd}, {f"k-{t}" for t in "aBée"}
        assert store.known_entries(deliveries | {"m-b"}, keys | {"k-A"}) == (deliveries, keys)
        with pytest.raises(EntriesCountedMeanwhile):
            record(store, "again", [EntryOutcome("m-new", Outcome.PROCESSED, "k-é")])
        record(store, "after", outcomes_of("b", 10))
        assert store.audit(datetime(2000, 1, 1, tzinfo=UTC)).problems(14) == []
    migrations.downgrade(pg_url, "0009_outcomes_age_postgres_only")
    with opened_store(pg_url) as store:
        with store.engine.connect() as conn:
            assert {c for _, c in conn.exec_driver_sql(_LEDGER_IDS)} == {None}
        assert store.audit(datetime(2000, 1, 1, tzinfo=UTC)).problems(14) == []
