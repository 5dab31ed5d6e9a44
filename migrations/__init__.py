"""Alembic, the only way the schema changes; runnable from code, no alembic.ini needed.

`upgrade(url)` is what `logwarden migrate` and the embedded runner call. The same
revisions run on SQLite and on Postgres. A new, empty SQLite database (every first
embedded run) is created from the models instead, in one transaction, and records HEAD:
the same tables, column for column, as the migrations leave (a test compares the two on
SQLite and Postgres), in a tenth of the time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from pipeline.storage.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent
# The newest revision in versions/ (a test keeps it Alembic's head): a database that
# records it is up to date, and `upgrade` returns without importing Alembic (about a
# second of CPU at every start-up).
HEAD = "0011_outcome_rows_by_range"
# Alembic keeps its running context in module globals: one migration per process at a time.
# Across processes, env.py serializes Postgres migrations with an advisory lock.
_IN_PROCESS = threading.Lock()
# Alembic's own version table, as Alembic creates it.
_VERSION = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def config(url: str) -> Config:
    """An Alembic config for `url`; env.py reads the URL from `attributes`, not the ini."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrates the database at `url` up to `revision`; a no-op when it is there already."""
    with _IN_PROCESS:
        if revision == "head" and _up_to_date(url):
            return
        from alembic import command

        command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrates the database at `url` down to `revision` (`base` drops every table)."""
    from alembic import command

    with _IN_PROCESS:
        command.downgrade(config(url), revision)


def _up_to_date(url: str) -> bool:
    """Whether the database is at HEAD: it records HEAD as its only revision, or it was an
    empty SQLite database and now holds the schema of HEAD. Any doubt (another revision,
    a failure to read it) says no, and Alembic decides, failing as it always did."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if inspect(connection).has_table("alembic_version"):
                found = connection.execute(text("SELECT version_num FROM alembic_version"))
                return list(found.scalars()) == [HEAD]
            return connection.dialect.name == "sqlite" and _created_at_head(connection)
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _created_at_head(connection: Connection) -> bool:
    """Creates the schema of HEAD in an SQLite database without tables, in one
    transaction that holds the database's write lock from the start (a process doing the
    same waits, then finds the tables); False, with nothing done, if it has tables."""
    # Python's sqlite3 would not open a transaction for DDL: the connection (this engine's
    # own, disposed of afterwards) leaves it to us.
    connection.connection.driver_connection.isolation_level = None  # type: ignore[union-attr]
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        if inspect(connection).get_table_names():
            connection.rollback()
            return False
        create_at_head(connection)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return True


def create_at_head(connection: Connection) -> None:
    """The schema of HEAD from the models, and HEAD recorded as Alembic records it, in an
    empty database, within the caller's transaction."""
    from pipeline.storage.models import METADATA

    # The database is empty (the caller looked): no table is looked for before its CREATE.
    METADATA.create_all(connection, checkfirst=False)
    _VERSION.create(connection, checkfirst=False)
    connection.execute(_VERSION.insert().values(version_num=HEAD))
