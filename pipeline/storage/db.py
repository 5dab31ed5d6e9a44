"""Engines for both deployments: SQLite (embedded) and Postgres via psycopg 3 (fleet)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Bytes the write-ahead log gathers before a commit copies them into the database
# (SQLite's default is 1,000 pages, 4 MB). A batch of 500 entries dirties a few hundred
# pages (the insert ids' index takes them at random), so the default checkpointed every
# two or three batches, each time writing and syncing the database file; with 40 MB a page
# rewritten by many batches is copied once. The log file keeps its largest size.
SQLITE_WAL_AUTOCHECKPOINT_BYTES = 40_960_000
# Bytes a page of a new database (SQLite's default is 4,096; an existing database keeps
# its own). A batch's outcome rows and their index entries fill fewer pages, and each
# page dirtied is a frame its commit writes and checksums: recording a batch of 500
# entries (the known-entries read, the record and its commit) took 5 % less CPU.
SQLITE_PAGE_SIZE = 8_192
# A pooled Postgres connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 10.0
_RETURNED_AT = "logwarden_returned_at"


def normalize_url(url: str) -> str:
    """`postgres://` and bare `postgresql://` mean psycopg 3, the only driver we ship."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, tuned for its dialect.

    SQLite: write-ahead log (readers never block the writer) checkpointed every 10,000
    pages, a busy timeout so concurrent writers wait instead of failing, and foreign keys
    enforced.
    Postgres: a pooled connection that sat idle is checked before use (see
    `_ping_when_idle`).
    """
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Pings a connection at checkout only when it came back to the pool `idle_s` ago or
    more; a dead one is then replaced before anyone sees it.

    What a ping guards against is a connection dropped while it sat unused (idle
    timeouts, a restarted server). A connection in steady use, one checkout every batch,
    is not pinged: a ping per checkout was two round trips a batch. If the server went
    away since its last use, its first statement fails instead, with OperationalError,
    before anything is written; the tasks, the outbox and the ingest's settling retry on
    it (the API answers 503), and the pool reconnects.
    """
    dialect = engine.dialect

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(str(error)) from error  # the pool reconnects
            raise

    event.listen(engine.pool, "checkin", returned)
    event.listen(engine.pool, "checkout", checked_out)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # Before the log is switched on, which writes a new database's first page.
        cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {_checkpoint_pages(cursor)}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _checkpoint_pages(cursor: Any) -> int:
    """`SQLITE_WAL_AUTOCHECKPOINT_BYTES` in pages of this database (an older one has
    4 KB pages, a new one `SQLITE_PAGE_SIZE`)."""
    page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
    return SQLITE_WAL_AUTOCHECKPOINT_BYTES // page_size


def insert_for(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows `ON CONFLICT`; both spell it the same way."""
    return dialect_insert(conn.dialect.name, table)


def dialect_insert(name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`insert_for` by the dialect's name, for statements built once and kept."""
    if name == "postgresql":
        # Here, not at the top: the Postgres dialect and its drivers are 20 ms of imports
        # an SQLite process does without.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"Logwarden stores to SQLite or Postgres, not {name}")
