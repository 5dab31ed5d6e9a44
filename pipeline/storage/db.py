"""Engines for both deployments: SQLite (embedded) and Postgres via psycopg 3 (fleet)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """`postgres://` and bare `postgresql://` mean psycopg 3, the only driver we ship."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, tuned for its dialect.

    SQLite: write-ahead log (readers never block the writer), a busy timeout so
    concurrent writers wait instead of failing, and foreign keys enforced.
    Postgres: pooled connections checked before use (`pool_pre_ping`).
    """
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def insert_for(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows `ON CONFLICT`; both spell it the same way."""
    return dialect_insert(conn.dialect.name, table)


def dialect_insert(name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`insert_for` by the dialect's name, for statements built once and kept."""
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"Logwarden stores to SQLite or Postgres, not {name}")
