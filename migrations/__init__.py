"""Alembic, the only way the schema changes; runnable from code, no alembic.ini needed.

`upgrade(url)` is what `logwarden migrate` and the embedded runner call. The same
revisions run on SQLite and on Postgres.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from pipeline.storage.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent
# The newest revision in versions/ (a test keeps it Alembic's head): a database that
# records it is up to date, and `upgrade` returns without importing Alembic (about a
# second of CPU at every start-up).
HEAD = "0008_ledger_age"
# Alembic keeps its running context in module globals: one migration per process at a time.
# Across processes, env.py serializes Postgres migrations with an advisory lock.
_IN_PROCESS = threading.Lock()


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
        if revision == "head" and _at_head(url):
            return
        from alembic import command

        command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrates the database at `url` down to `revision` (`base` drops every table)."""
    from alembic import command

    with _IN_PROCESS:
        command.downgrade(config(url), revision)


def _at_head(url: str) -> bool:
    """Whether the database records HEAD as its only revision. Any doubt (no table, a
    failure to read it) says no, and Alembic decides, failing as it always did."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            found = connection.execute(text("SELECT version_num FROM alembic_version"))
            return list(found.scalars()) == [HEAD]
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
