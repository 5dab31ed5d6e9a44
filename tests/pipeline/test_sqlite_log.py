"""SQLite's write-ahead log, as the embedded run uses it: every connection checkpoints it
after 40 MB of pages, not SQLite's default 1,000 pages, and a log of many batches is still
checkpointed (it does not grow without end) with every batch readable throughout."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import migrations
from pipeline.storage import BatchRecord, EntryOutcome, Outcome, Store, make_engine
from pipeline.storage.db import SQLITE_PAGE_SIZE, SQLITE_WAL_AUTOCHECKPOINT_BYTES

PAGE = SQLITE_PAGE_SIZE
CHECKPOINT_PAGES = SQLITE_WAL_AUTOCHECKPOINT_BYTES // PAGE


def record(store: Store, n: int, entries: int) -> None:
    """A batch of `entries` processed entries whose insert ids are random, as real ones are:
    their index takes pages all over the file."""
    outcomes = [EntryOutcome(f"src:{n * entries + i}", Outcome.PROCESSED,
                             f"p:{secrets.token_hex(8)}") for i in range(entries)]
    store.record_batch(BatchRecord(f"b{n:04d}", "p/k8s_container/shop", entries, entries, 0,
                                   0, 0), [], [], {}, outcomes=outcomes)


def test_every_connection_checkpoints_after_the_configured_pages(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=2)
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 5_000
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 8_192
    finally:
        engine.dispose()


def test_a_database_of_4_kb_pages_keeps_them_and_checkpoints_after_as_many_bytes(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # made before pages were 8 KB
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x)")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4_096
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    finally:
        engine.dispose()


def test_a_long_run_is_checkpointed_and_every_batch_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.db"
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    store = Store(make_engine(url))
    wal = Path(f"{path}-wal")
    batches, largest = 100, 0
    try:
        for n in range(batches):
            record(store, n, 500)
            largest = max(largest, wal.stat().st_size)
            # Another connection (a `logwarden` listing, the audit) sees each batch at once.
            reader = sqlite3.connect(path)
            try:
                rows = reader.execute("SELECT count(*) FROM entry_outcomes").fetchone()
            finally:
                reader.close()
            assert rows == ((n + 1) * 500,)
        # 100 batches wrote far more than 40 MB to the log: it was checkpointed (and
        # reused from its start), so it never held much more than the configured pages.
        assert largest < (CHECKPOINT_PAGES + 1_000) * (PAGE + 24)
        # The rows reached the database (an entry takes about 150 bytes there; the batches
        # since the last checkpoint are still in the log).
        assert path.stat().st_size > 500 * batches * 50
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT batch_id) FROM entry_outcomes"
                          ).fetchone() == (500 * batches, batches)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
