"""Alembic, the only way the schema changes; runnable from code, no alembic.ini needed.

`upgrade(url)` is what `logwarden migrate` and the embedded runner call. The same
revisions run on SQLite and on Postgres.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent
# Alembic keeps its running context in module globals: one migration per process at a time.
# Across processes, env.py serializes Postgres migrations with an advisory lock.
_IN_PROCESS = threading.Lock()


def config(url: str) -> Config:
    """An Alembic config for `url`; env.py reads the URL from `attributes`, not the ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrates the database at `url` up to `revision`; a no-op when it is there already."""
    with _IN_PROCESS:
        command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrates the database at `url` down to `revision` (`base` drops every table)."""
    with _IN_PROCESS:
        command.downgrade(config(url), revision)
